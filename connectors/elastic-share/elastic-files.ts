import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The three files the Layering Service reads from an elastic layer share at logon (reference
 * architecture, "Configuration files (JSON)"): who is assigned which layers (by SID), which layers
 * exist and where their disks are, and which machine name patterns get which layers. Their JSON
 * Schemas are published in schemas/elastic/ (generated from these by `lamina elastic schemas`).
 *
 * Every file carries the same `generation` (a hash of the three files' content), so a reader can tell
 * the files of one sync from a mix.
 */
export const ELASTIC_FILES = {
  assignments: 'ElasticLayerAssignment.json',
  layers: 'Layers.json',
  machines: 'MachineAssociations.json',
} as const;
export type ElasticFileKey = keyof typeof ELASTIC_FILES;
export const ELASTIC_FILE_NAMES = Object.values(ELASTIC_FILES);

/** The folder of the share the layer disks are copied into. */
export const LAYERS_FOLDER = 'Layers';

const generation = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('SHA-256 of the content of the three files; equal in all three when they belong together');
const sid = z
  .string()
  .regex(/^S-1-\d+(-\d+)+$/)
  .describe('Security identifier of the user or group (objectSid), e.g. S-1-5-21-…');
const layerRefs = z
  .array(z.uuid())
  .describe('Ids of layers in Layers.json, lowest priority first (the app layers’ creation order)');

export const layersFile = z
  .object({
    generation,
    layers: z.array(
      z.object({
        id: z.uuid().describe('The app layer version'),
        layerId: z.uuid(),
        name: z.string().min(1),
        version: z.string().min(1),
        creationSequence: z
          .number()
          .int()
          .positive()
          .describe('Priority among app layers: a higher number is applied later and wins'),
        path: z.string().regex(/^\\\\/, 'a UNC path').describe('UNC path of the layer disk (VHDX) to mount'),
        sizeBytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    ),
  })
  .describe('Layers.json: the layers on the elastic layer share and the paths to mount them from');

export const assignmentsFile = z
  .object({
    generation,
    assignments: z.array(
      z.object({
        sid,
        kind: z.enum(['user', 'group']),
        name: z.string().min(1).describe('The name the assignment was made with (DOMAIN\\name)'),
        layers: layerRefs,
      }),
    ),
  })
  .describe('ElasticLayerAssignment.json: per user or group SID, the layers assigned');

export const machinesFile = z
  .object({
    generation,
    associations: z.array(
      z.object({
        pattern: z
          .string()
          .regex(/^[A-Za-z0-9*?-]{1,15}$/)
          .describe('Computer name pattern: * any run of characters, ? one; compared without case'),
        layers: layerRefs,
      }),
    ),
  })
  .describe('MachineAssociations.json: machine name patterns and the layers machines matching them get');

export type LayersFile = z.infer<typeof layersFile>;
export type AssignmentsFile = z.infer<typeof assignmentsFile>;
export type MachinesFile = z.infer<typeof machinesFile>;
export interface ElasticFiles {
  assignments: AssignmentsFile;
  layers: LayersFile;
  machines: MachinesFile;
}

export const ELASTIC_SCHEMAS = { assignments: assignmentsFile, layers: layersFile, machines: machinesFile };

/** What a sync delivers, from the assignment records and the layer versions they name. */
export interface ElasticPlan {
  /** \\server\share as the desktops reach it. */
  sharePath: string;
  layers: {
    id: string;
    layerId: string;
    name: string;
    version: string;
    creationSequence: number;
    sizeBytes: number;
    sha256: string;
  }[];
  assignments: {
    layerVersionId: string;
    principals: { name: string; kind: 'user' | 'group'; sid: string }[];
    machinePatterns: string[];
  }[];
}

/** The stable file name of a layer version's disk on the share: one name per version, never reused. */
export function layerFileName(versionId: string): string {
  return `${versionId}.vhdx`;
}

/** The three files of a plan: deterministic (same plan, same bytes), each valid against its schema. */
export function buildElasticFiles(plan: ElasticPlan): ElasticFiles {
  const layers = [...plan.layers].sort((a, b) => a.creationSequence - b.creationSequence);
  const order = new Map(layers.map((layer, index) => [layer.id, index]));
  const byPriority = (ids: Iterable<string>) =>
    [...new Set(ids)].sort((a, b) => order.get(a)! - order.get(b)!);
  const share = plan.sharePath.replace(/\\+$/, '');

  const principals = new Map<
    string,
    { sid: string; kind: 'user' | 'group'; name: string; layers: string[] }
  >();
  const patterns = new Map<string, { pattern: string; layers: string[] }>();
  for (const assignment of plan.assignments) {
    if (!order.has(assignment.layerVersionId)) {
      throw new Error(`assignment names layer version ${assignment.layerVersionId}, which the plan lacks`);
    }
    for (const principal of assignment.principals) {
      const entry = principals.get(principal.sid) ?? { ...principal, layers: [] };
      entry.layers.push(assignment.layerVersionId);
      principals.set(principal.sid, entry);
    }
    for (const pattern of assignment.machinePatterns) {
      const key = pattern.toUpperCase();
      const entry = patterns.get(key) ?? { pattern: key, layers: [] };
      entry.layers.push(assignment.layerVersionId);
      patterns.set(key, entry);
    }
  }
  const content = {
    layers: layers.map((layer) => ({
      ...layer,
      path: `${share}\\${LAYERS_FOLDER}\\${layerFileName(layer.id)}`,
    })),
    assignments: [...principals.values()]
      .sort((a, b) => a.sid.localeCompare(b.sid))
      .map((p) => ({ sid: p.sid, kind: p.kind, name: p.name, layers: byPriority(p.layers) })),
    associations: [...patterns.values()]
      .sort((a, b) => a.pattern.localeCompare(b.pattern))
      .map((p) => ({ pattern: p.pattern, layers: byPriority(p.layers) })),
  };
  const stamp = createHash('sha256').update(JSON.stringify(content)).digest('hex');
  return {
    assignments: assignmentsFile.parse({ generation: stamp, assignments: content.assignments }),
    layers: layersFile.parse({ generation: stamp, layers: content.layers }),
    machines: machinesFile.parse({ generation: stamp, associations: content.associations }),
  };
}

/** The files' bytes as written to the share. */
export function serializeElasticFiles(files: ElasticFiles): Record<string, string> {
  return Object.fromEntries(
    (Object.keys(ELASTIC_FILES) as ElasticFileKey[]).map((key) => [
      ELASTIC_FILES[key],
      JSON.stringify(files[key], null, 2) + '\n',
    ]),
  );
}

/** Reads the three files as found on a share; names the file that is missing, invalid or of another sync. */
export function parseElasticFiles(found: Record<string, Buffer>): ElasticFiles {
  const parsed = {} as Record<ElasticFileKey, unknown>;
  for (const key of Object.keys(ELASTIC_FILES) as ElasticFileKey[]) {
    const name = ELASTIC_FILES[key];
    if (!found[name]) throw new Error(`${name} is missing; the share has not been synced`);
    const result = ELASTIC_SCHEMAS[key].safeParse(JSON.parse(found[name].toString('utf8')));
    if (!result.success) throw new Error(`${name} is not valid: ${z.prettifyError(result.error)}`);
    parsed[key] = result.data;
  }
  const files = parsed as unknown as ElasticFiles;
  const generations = new Set([files.assignments, files.layers, files.machines].map((f) => f.generation));
  if (generations.size !== 1) throw new Error('the three files are of different syncs');
  return files;
}

/** Windows computer-name wildcards: * any run, ? one character; without case. */
export function machineMatches(pattern: string, machine: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'i').test(machine);
}

/**
 * The elastic layers a logon mounts, as the Layering Service finds them in the files: those assigned to
 * any of the user's SIDs (the user's and their groups', nested included) or to a pattern the machine
 * matches, lowest priority first — their app layers' creation order, whatever the order of assignment.
 */
export function elasticLayersFor(
  files: ElasticFiles,
  who: { sids: readonly string[]; machine: string },
): LayersFile['layers'] {
  const sids = new Set(who.sids);
  const ids = new Set([
    ...files.assignments.assignments.filter((a) => sids.has(a.sid)).flatMap((a) => a.layers),
    ...files.machines.associations
      .filter((a) => machineMatches(a.pattern, who.machine))
      .flatMap((a) => a.layers),
  ]);
  return files.layers.layers.filter((layer) => ids.has(layer.id));
}
