import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ELASTIC_FILES, ELASTIC_SCHEMAS } from '../../connectors/elastic-share/elastic-files';
import type { Task } from '../../api/tasks/task-service';
import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required, type ParsedOptions } from '../options';
import { elasticAssignmentCommand } from './elastic-assignment';
import { followTask, printTask } from './task-follow';

const usage = `Usage:
  lamina elastic resolve --user DOMAIN\\name --machine NAME [--share NAME] [--api URL]
      The layers a logon of the user on the machine mounts, lowest priority first: the base image,
      the elastic layers in their app layers' creation order (read from the share's files, the
      user's SID and their groups' from the directory), the user layer on top.
  lamina elastic sync [--share NAME] [--wait] [--json] [--api URL]
      Copy the assigned layers to the share and write its files: starts the share's sync task and
      prints it; --wait follows it to its end (a progress bar on a terminal) and prints what it did.
      A sync of the share already running takes the request as one more pass.
  lamina elastic schemas --out DIR
      Write the JSON Schemas of ElasticLayerAssignment.json, Layers.json and MachineAssociations.json
      (schemas/elastic/ holds them as published).
  --share NAME      the elastic layer share (System > Settings); needed when there is more than one
${API_OPTION_HELP}

Assignments:
${elasticAssignmentCommand.usage.replace(/^Usage:\n/, '')}`;

interface Share {
  id: string;
  name: string;
  sharePath: string;
}

async function chosenShare(api: ReturnType<typeof applianceApi>, options: ParsedOptions): Promise<Share> {
  const { items } = await api.get<{ items: Share[] }>('/api/system-settings/elastic-shares?pageSize=200');
  const name = options.values.get('share');
  const matching = name ? items.filter((s) => s.name.toLowerCase() === name.toLowerCase()) : items;
  if (matching.length === 1) return matching[0];
  if (matching.length === 0) {
    throw new UsageError(
      name ? `no elastic layer share is named '${name}'` : 'no elastic layer share is set up',
    );
  }
  throw new UsageError(`there are ${matching.length} elastic layer shares; name one with --share`);
}

/** The JSON Schema of each file, as published in schemas/elastic/. */
export function elasticJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(
    (Object.keys(ELASTIC_FILES) as (keyof typeof ELASTIC_FILES)[]).map((key) => [
      ELASTIC_FILES[key].replace(/\.json$/, '.schema.json'),
      z.toJSONSchema(ELASTIC_SCHEMAS[key]),
    ]),
  );
}

export const elasticCommand: CliCommand = {
  usage,
  async run(args) {
    const [action, ...rest] = args;
    if (action === 'assignment') return elasticAssignmentCommand.run(rest);
    const options = parseOptions(rest, {
      user: 'value',
      machine: 'value',
      share: 'value',
      api: 'value',
      out: 'value',
      wait: 'flag',
      json: 'flag',
    });
    if (action === 'schemas') {
      const out = required(options, 'out');
      await fs.mkdir(out, { recursive: true });
      for (const [name, schema] of Object.entries(elasticJsonSchemas())) {
        await fs.writeFile(path.join(out, name), JSON.stringify(schema, null, 2) + '\n');
        console.log(path.join(out, name));
      }
      return 0;
    }
    if (action === 'resolve') {
      const user = required(options, 'user');
      const machine = required(options, 'machine');
      const api = applianceApi(options);
      const share = await chosenShare(api, options);
      const query = new URLSearchParams({ user, machine });
      const resolved = await api.get<{
        user: { name: string; sid: string };
        elasticLayers: { name: string; version: string; creationSequence: number; path: string }[];
      }>(`/api/system-settings/elastic-shares/${share.id}/resolve?${query}`);
      console.log(
        `Logon of ${resolved.user.name} (${resolved.user.sid}) on ${machine.toUpperCase()}, from '${share.name}', lowest priority first:`,
      );
      const lines = [
        'base image (its layers composited: OS, apps in creation order, platform)',
        ...resolved.elasticLayers.map(
          (l) => `elastic layer '${l.name}' version ${l.version} (creation ${l.creationSequence}) ${l.path}`,
        ),
        'user layer (when the image has user layers enabled)',
      ];
      lines.forEach((line, index) => console.log(`${String(index + 1).padStart(3)}  ${line}`));
      return 0;
    }
    if (action === 'sync') {
      const api = applianceApi(options);
      const share = await chosenShare(api, options);
      const started = await api.post<Task>(`/api/system-settings/elastic-shares/${share.id}/sync`, {});
      const json = options.flags.has('json');
      return printTask(options.flags.has('wait') ? await followTask(api, started.id) : started, json);
    }
    throw new UsageError(`unknown action '${action ?? ''}'\n${usage}`);
  },
};
