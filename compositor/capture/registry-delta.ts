import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { diffHives, HIVE_NAMES, RegistryHiveError, type HiveName, type RegOperation } from '../../registry';
import { ComposeError } from '../errors';
import { readOptionalFile } from '../layer-disk';
import type { VolumeRef } from '../native';
import { HIVE_FILES } from '../registry-merge';
import { excludedKey, excludedValue } from './exclusions';

/**
 * The registry half of capture by difference: each machine hive a layer may change (SOFTWARE,
 * SYSTEM, and the default user's DEFAULT, as registry/hive-mapping.ts allows) is read out of BASE
 * and AFTER and compared (registry/hive-diff.ts), minus the registry rules of the exclusion list.
 */

export interface RegistryDelta {
  operations: RegOperation[];
  /** Keys and values left out, by rule. */
  excluded: Map<string, string[]>;
}

/** Appends `item` to the list of `key`. */
export function addTo<T>(lists: Map<string, T[]>, key: string, item: T): void {
  const list = lists.get(key);
  if (list) list.push(item);
  else lists.set(key, [item]);
}

async function hiveFile(volume: VolumeRef, hive: HiveName, file: string, disk: string): Promise<string> {
  const bytes = await readOptionalFile(volume, HIVE_FILES[hive]);
  if (!bytes) throw new ComposeError(`${disk}: no ${HIVE_FILES[hive]}: not a Windows boot volume`);
  await fs.writeFile(file, bytes);
  return file;
}

export async function registryDelta(
  base: { volume: VolumeRef; disk: string },
  after: { volume: VolumeRef; disk: string },
  work: string,
): Promise<RegistryDelta> {
  const operations: RegOperation[] = [];
  const excluded = new Map<string, string[]>();
  for (const hive of HIVE_NAMES) {
    const baseFile = await hiveFile(base.volume, hive, path.join(work, `base-${hive}`), base.disk);
    const afterFile = await hiveFile(after.volume, hive, path.join(work, `after-${hive}`), after.disk);
    try {
      operations.push(
        ...diffHives(baseFile, afterFile, {
          hive,
          exclusions: {
            key: (keyPath) => excludedKey(hive, keyPath),
            value: (keyPath, name) => excludedValue(hive, keyPath, name),
          },
          onExcluded: (rule, item) => addTo(excluded, rule, item),
        }),
      );
    } catch (err) {
      if (!(err instanceof RegistryHiveError)) throw err;
      const disk = err.message.includes(baseFile) ? base.disk : after.disk;
      const reason = err.message.replace(baseFile, '').replace(afterFile, '').replace(/^\s+/, '');
      throw new ComposeError(`${disk}: the ${hive} hive (${HIVE_FILES[hive]}) is corrupt: ${reason}`);
    } finally {
      await fs.rm(baseFile, { force: true });
      await fs.rm(afterFile, { force: true });
    }
  }
  return { operations, excluded };
}
