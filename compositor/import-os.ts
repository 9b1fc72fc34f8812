import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { derivedGuid, openWindowsPartition } from './disk-image';
import { metadataOperations, readOptionalFile, sealLayerPartition, withLayer } from './layer-disk';
import { layerIdentity, type LayerMetadata } from './layer-metadata';
import type { VolumeRef } from './native';
import { applyToVolume, cloneVolume, listVolume } from './volume';
import { withWorkDir } from './work-dir';
import { ComposeError } from './errors';

/** The hives an OS layer must have for registry merging; each must really be a hive. */
export const REQUIRED_HIVES = ['SYSTEM', 'SOFTWARE', 'DEFAULT'] as const;
export const HIVE_DIR = '\\Windows\\System32\\config';

export async function checkHive(partition: VolumeRef, hive: string, source: string): Promise<Buffer> {
  const bytes = await readOptionalFile(partition, `${HIVE_DIR}\\${hive}`);
  if (!bytes) throw new ComposeError(`${source}: no ${HIVE_DIR}\\${hive}: not a Windows volume`);
  if (bytes.length < 4096 || bytes.toString('latin1', 0, 4) !== 'regf') {
    throw new ComposeError(`${source}: ${HIVE_DIR}\\${hive} is not a registry hive`);
  }
  return bytes;
}

export interface ImportOsOptions {
  vmDisk: string;
  name: string;
  version: string;
  out: string;
  /** The OS layer this is a version of (osLayerLineage); unset, the version is a layer of its own. */
  lineage?: OsLayerLineage;
}

/** What the versions of one OS layer share, so app layers made on any of them compose with each. */
export interface OsLayerLineage {
  layer: string;
  formerIds: string[];
}

/**
 * The lineage a new version of an OS layer takes: the identity its existing versions (disks, oldest
 * first) carry, and every other identity they answered to. Disks from before OS layers had versions
 * were each their own identity; the oldest one's becomes the layer's, the others are kept as former
 * ids. A layer without versions yet takes `newLayerId`.
 */
export async function osLayerLineage(versions: string[], newLayerId: string): Promise<OsLayerLineage> {
  const identities: string[] = [];
  for (const disk of versions) {
    const metadata = await withLayer(disk, async (layer) => layer.metadata);
    if (metadata.type !== 'os')
      throw new ComposeError(`${disk} is a ${metadata.type} layer, not an OS layer`);
    identities.push(layerIdentity(metadata), ...(metadata.formerIds ?? []));
  }
  const layer = identities[0] ?? newLayerId;
  return { layer, formerIds: [...new Set(identities)].filter((id) => id !== layer) };
}

/** Makes an OS layer disk from a VM disk: its Windows partition, as is, plus `\.lamina`. */
export async function importOsLayer(options: ImportOsOptions): Promise<LayerMetadata> {
  await fs.access(options.vmDisk).catch(() => {
    throw new ComposeError(`${options.vmDisk}: cannot read the VM disk`);
  });
  return withWorkDir(options.out, async (work) => {
    // Only the allocated clusters of the VM's Windows partition, read in place, become the layer.
    const partition = path.join(work, 'os.ntfs');
    const windows = await openWindowsPartition(options.vmDisk);
    try {
      await cloneVolume(windows, partition);
    } finally {
      await windows.close();
    }
    const hash = createHash('sha256');
    for (const hive of REQUIRED_HIVES) hash.update(await checkHive(partition, hive, options.vmDisk));
    for (const entry of await listVolume(partition)) hash.update(`${entry.path}\0${entry.size}\n`);
    const contentHash = hash.digest('hex');
    const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const metadata: LayerMetadata = {
      schema: 1,
      id: derivedGuid(`os:${options.name}:${options.version}:${contentHash}`).toLowerCase(),
      name: options.name,
      type: 'os',
      version: options.version,
      ...(options.lineage
        ? {
            layer: options.lineage.layer,
            ...(options.lineage.formerIds.length > 0 ? { formerIds: options.lineage.formerIds } : {}),
          }
        : {}),
      creationSequence: 0,
      createdAt,
      contentHash,
    };
    await applyToVolume(partition, metadataOperations(metadata), { epoch: Date.parse(createdAt) / 1000 });
    await sealLayerPartition(partition, options.out, metadata);
    return metadata;
  });
}
