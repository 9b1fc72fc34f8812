import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { formatRegText, parseRegText } from '../registry';
import { derivedGuid } from './disk-image';
import { readDeletions } from './layer-build';
import { metadataOperations, openLayer, sealLayerPartition } from './layer-disk';
import type { LayerMetadata } from './layer-metadata';
import { openLayerSource, sourceOperations } from './layer-sources';
import { applyToVolume, listVolume } from './volume';
import { withWorkDir } from './work-dir';

/**
 * The package disk of a packaging machine (createLayerVersion): a layer disk that starts empty, is
 * written while the admin installs software, and is finalized into the layer version's disk when the
 * machine shuts down. Between those it is an ordinary layer disk, so any layer tool can read it.
 */

export interface PackageInstall {
  /** Folder or zip of files at their Windows paths, as an installer would leave them. */
  from: string;
  reg?: string;
  deletions?: string;
}

/** Writes files, registry changes and deletions into the package disk, replacing it atomically. */
export async function installIntoPackageDisk(disk: string, install: PackageInstall): Promise<void> {
  const regText = install.reg ? await fs.readFile(install.reg) : undefined;
  const newDeletions = install.deletions ? await readDeletions(install.deletions) : [];
  await withWorkDir(disk, async (work) => {
    const partition = path.join(work, 'package.ntfs');
    const layer = await openLayer(disk, { extractTo: partition });
    const content = await openLayerSource(install.from);
    try {
      await applyToVolume(partition, sourceOperations(content), { epoch: nowSeconds() });
    } finally {
      await content.close();
    }
    const registry = regText ? mergeRegText(layer.registry, regText, layer.metadata.name) : layer.registry;
    const deletions = [...new Set([...layer.deletions, ...newDeletions])];
    await applyToVolume(partition, metadataOperations(layer.metadata, deletions, registry), {
      epoch: nowSeconds(),
    });
    await replaceDisk(disk, (temp) => sealLayerPartition(partition, temp, layer.metadata));
  });
}

export interface FinalizeOptions {
  version: string;
  /** The layer version's creation sequence, which orders app layers in an image. */
  creationSequence: number;
  out: string;
}

/**
 * Turns a package disk into the layer version's disk: final metadata (identity, creation sequence,
 * content hash over paths, sizes, registry and deletions) sealed into `out`.
 */
export async function finalizePackageDisk(disk: string, options: FinalizeOptions): Promise<LayerMetadata> {
  return withWorkDir(options.out, async (work) => {
    const partition = path.join(work, 'package.ntfs');
    const layer = await openLayer(disk, { extractTo: partition });
    const hash = createHash('sha256');
    for (const entry of await listVolume(partition)) hash.update(`${entry.path}\0${entry.size}\n`);
    hash.update(JSON.stringify(layer.deletions));
    if (layer.registry) hash.update(layer.registry);
    const contentHash = hash.digest('hex');
    const { name, type } = layer.metadata;
    const metadata: LayerMetadata = {
      ...layer.metadata,
      id: derivedGuid(
        `${type}:${name}:${options.version}:${options.creationSequence}:${contentHash}`,
      ).toLowerCase(),
      version: options.version,
      creationSequence: options.creationSequence,
      createdAt: new Date(nowSeconds() * 1000).toISOString(),
      contentHash,
    };
    await applyToVolume(partition, metadataOperations(metadata, layer.deletions, layer.registry), {
      epoch: nowSeconds(),
    });
    await replaceDisk(options.out, (temp) => sealLayerPartition(partition, temp, metadata));
    return metadata;
  });
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Both layers' .reg operations in one file, the installer's last: it ran after what is there. */
function mergeRegText(existing: Buffer | undefined, added: Buffer, layer: string): Buffer {
  const operations = [
    ...(existing ? parseRegText(existing, `${layer}: registry.reg`).operations : []),
    ...parseRegText(added, 'installed .reg').operations,
  ];
  return Buffer.from(formatRegText(operations), 'utf8');
}

async function replaceDisk(disk: string, write: (temp: string) => Promise<void>): Promise<void> {
  const temp = path.join(path.dirname(disk), `.${path.basename(disk)}.${process.pid}.tmp`);
  try {
    await write(temp);
    await fs.rename(temp, disk);
  } finally {
    await fs.rm(temp, { force: true });
  }
}
