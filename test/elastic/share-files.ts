import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { projectRoot } from '../../lib/project-root';

export const FILE_NAMES = ['ElasticLayerAssignment.json', 'Layers.json', 'MachineAssociations.json'];

const ajv = new Ajv2020({ allErrors: true });
addFormats(ajv);
/** Each file's validator, compiled from the schema published in schemas/elastic/ (not from Lamina's code). */
const validators = Object.fromEntries(
  FILE_NAMES.map((name) => {
    const schema = path.join(projectRoot(), 'schemas', 'elastic', name.replace(/\.json$/, '.schema.json'));
    return [name, ajv.compile(JSON.parse(fs.readFileSync(schema, 'utf8')))];
  }),
);

/** The three files on the share, each checked against its published JSON Schema. */
export function readShareFiles(mountPoint: string) {
  const files: Record<string, { generation: string } & Record<string, unknown>> = {};
  for (const name of FILE_NAMES) {
    const content = JSON.parse(fs.readFileSync(path.join(mountPoint, name), 'utf8'));
    const validate = validators[name];
    if (!validate(content)) throw new Error(`${name}: ${ajv.errorsText(validate.errors)}`);
    files[name] = content as { generation: string };
  }
  return files as {
    'ElasticLayerAssignment.json': {
      generation: string;
      assignments: { sid: string; kind: string; name: string; layers: string[] }[];
    };
    'Layers.json': {
      generation: string;
      layers: { id: string; name: string; creationSequence: number; path: string; sha256: string }[];
    };
    'MachineAssociations.json': { generation: string; associations: { pattern: string; layers: string[] }[] };
  };
}
