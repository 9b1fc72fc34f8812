import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import {
  applyRegistryChanges,
  findRegistryConflicts,
  parseRegText,
  HIVE_NAMES,
  splitOperationsByHive,
  type HiveName,
  type RegOperation,
  type RegistryValueConflict,
} from '../registry';
import { HiveFile } from '../registry/hive';
import { readVolumeFile, applyToVolume } from './volume';

/**
 * Step 3's registry part: each layer's `registry.reg` merged into the image's hives (through
 * registry/, over hivex), in priority order. Each hive is taken out of the image once, changed
 * by every layer, and put back once.
 */

export const HIVE_FILES: Record<HiveName, string> = {
  SYSTEM: '\\Windows\\System32\\config\\SYSTEM',
  SOFTWARE: '\\Windows\\System32\\config\\SOFTWARE',
  DEFAULT: '\\Windows\\System32\\config\\DEFAULT',
};

export interface LayerRegistry {
  layer: string;
  operations: RegOperation[];
}

/** Parses a layer's registry.reg; a syntax error names the layer and the line. */
export function parseLayerRegistry(layer: string, regText: Buffer | undefined): LayerRegistry {
  return { layer, operations: regText ? parseRegText(regText, `${layer}: registry.reg`).operations : [] };
}

function readCurrentControlSet(systemHive: string): number | undefined {
  const hive = HiveFile.open(systemHive, { writable: false });
  try {
    const select = hive.findKey(['Select']);
    const current = select && hive.values(select).find((v) => v.name.toLowerCase() === 'current');
    return current && current.data.length >= 4 ? current.data.readUInt32LE(0) : undefined;
  } finally {
    hive.close();
  }
}

export interface RegistryMergeResult {
  conflicts: RegistryValueConflict[];
  operations: number;
}

export async function mergeRegistry(
  partition: string,
  layers: LayerRegistry[],
  workDir: string,
  epoch: number,
): Promise<RegistryMergeResult> {
  const byHive = layers.map((l) => splitOperationsByHive(l.operations));
  const touched = HIVE_NAMES.filter((hive) => byHive.some((ops) => ops[hive].length > 0));
  let currentControlSet: number | undefined;
  for (const hive of touched) {
    const local = path.join(workDir, `hive-${hive}`);
    await fs.writeFile(local, await readVolumeFile(partition, HIVE_FILES[hive].replace(/\\/g, '/')));
    for (const ops of byHive)
      if (ops[hive].length > 0) await applyRegistryChanges(local, ops[hive], { hive });
    if (hive === 'SYSTEM') currentControlSet = readCurrentControlSet(local);
    await applyToVolume(
      partition,
      [{ op: 'data', path: HIVE_FILES[hive], content: await fs.readFile(local) }],
      { epoch },
    );
    await fs.rm(local);
  }
  return {
    conflicts: findRegistryConflicts(layers, { currentControlSet }),
    operations: layers.reduce((sum, l) => sum + l.operations.length, 0),
  };
}
