import { createHash, type Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { extractWindowsPartition, openWindowsPartition, writeDisk, type OutputFormat } from './disk-image';
import { MiB, planDisk } from './disk-layout';
import { createImageTarget } from './image-target';
import { LayerDeletions, LayerMetadata, METADATA_FILES } from './layer-metadata';
import { layerInputName, type LayerInput } from './iscsi-lun';
import { NtfsCoreError, type ProgressListener, type VolumeRef } from './native';
import { applyToVolume, finalizeVolume, formatVolume, readVolumeFile } from './volume';
import { toVolumePath, type VolumeOperation } from './volume-operations';
import { ComposeError } from './errors';

/**
 * Layer disks (ARCHITECTURE.md §4): an MBR disk with one NTFS partition at 1 MiB holding the
 * layer's files at their Windows paths and its metadata under `\.lamina`.
 */

/** The container of layer disks in the repository. */
export const LAYER_DISK_FORMAT: OutputFormat = 'vhdx';
const PARTITION_START = MiB;

export interface LayerDiskContent {
  /** Writes the layer's files into the fresh volume; the hash sees every byte sent. */
  write(partitionFile: string, contentHash: Hash): Promise<void>;
  /** The metadata, once the content hash is known. */
  metadata(contentHash: string): LayerMetadata;
  deletions?: string[];
  registry?: Buffer;
}

/**
 * A layer disk sized to its content: room for `bytes` in `entries` files and folders (a cluster of
 * slack each) plus NTFS's own structures (MFT, logfile), whole MiB, at least 64 MiB.
 */
export function layerPartitionSize(bytes: number, entries: number): number {
  const content = bytes + entries * 4096;
  return Math.max(64 * MiB, Math.ceil((content * 1.1 + 48 * MiB) / MiB) * MiB);
}

/** Serial numbers and GUIDs of a layer disk come from its identity, not from chance. */
function identitySeed(metadata: LayerMetadata): string {
  return `lamina-layer:${metadata.id}:${metadata.contentHash}`;
}

export function metadataOperations(
  metadata: LayerMetadata,
  deletions: string[] = [],
  registry?: Buffer,
): VolumeOperation[] {
  const operations: VolumeOperation[] = [
    {
      op: 'file',
      path: METADATA_FILES.layer,
      content: Buffer.from(JSON.stringify(metadata, null, 2) + '\n'),
    },
    {
      op: 'file',
      path: METADATA_FILES.deletions,
      content: Buffer.from(JSON.stringify(deletions, null, 2) + '\n'),
    },
  ];
  if (registry) operations.push({ op: 'file', path: METADATA_FILES.registry, content: registry });
  return operations;
}

/** Writes a layer disk to `out` from a partition of `partitionSize` bytes. */
export async function createLayerDisk(
  out: string,
  workDir: string,
  partitionSize: number,
  content: LayerDiskContent,
): Promise<LayerMetadata> {
  const partition = path.join(workDir, 'layer.ntfs');
  await formatVolume(partition, partitionSize, { label: 'Layer', startSector: PARTITION_START / 512 });
  const hash = createHash('sha256');
  await content.write(partition, hash);
  const metadata = content.metadata(hash.digest('hex'));
  const epoch = Math.floor(Date.parse(metadata.createdAt) / 1000);
  await applyToVolume(partition, metadataOperations(metadata, content.deletions, content.registry), {
    epoch,
  });
  await sealLayerPartition(partition, out, metadata);
  return metadata;
}

function volumeSerial(seed: string): Buffer {
  return createHash('sha256').update(`${seed}:serial`).digest();
}

export interface KnownLayerContent {
  /** The metadata, content hash included: known before the files are written. */
  metadata: LayerMetadata;
  /** Writes the layer's files into `volume`, the core's name for the layer disk's own partition. */
  write(volume: string): Promise<void>;
  deletions?: string[];
  registry?: Buffer;
}

/**
 * Writes a layer disk whose content hash is known before its files are (a capture hashes the list
 * it will copy) in place: the volume is made inside the VHDX, as a compose makes an image's
 * (image-target.ts), so each file's bytes are written once, past the page cache, and there is no
 * partition image to wrap afterwards. The disk is the one createLayerDisk would write.
 */
export async function createLayerDiskInPlace(
  out: string,
  workDir: string,
  partitionSize: number,
  content: KnownLayerContent,
  options: { onProgress?: ProgressListener; signal?: AbortSignal } = {},
): Promise<void> {
  const seed = identitySeed(content.metadata);
  const fresh = path.join(workDir, 'layer.ntfs');
  await formatVolume(fresh, partitionSize, { label: 'Layer', startSector: PARTITION_START / 512 });
  const target = await createImageTarget(
    LAYER_DISK_FORMAT,
    out,
    planDisk('bios', PARTITION_START + partitionSize, seed),
    workDir,
    seed,
  );
  try {
    await target.placeOsVolume(fresh, partitionSize, options);
    await fs.rm(fresh);
    await content.write(target.volume);
    const { metadata, deletions, registry } = content;
    await applyToVolume(target.volume, metadataOperations(metadata, deletions, registry), {
      epoch: Math.floor(Date.parse(metadata.createdAt) / 1000),
    });
    await finalizeVolume(target.volume, volumeSerial(seed), PARTITION_START);
    await target.finish({}, options);
  } catch (err) {
    await target.abort();
    throw err;
  }
}

/** Stamps the volume and wraps the partition into the layer disk container. */
export async function sealLayerPartition(
  partition: string,
  out: string,
  metadata: LayerMetadata,
): Promise<void> {
  const seed = identitySeed(metadata);
  await finalizeVolume(partition, volumeSerial(seed), PARTITION_START);
  const { size } = await fs.stat(partition);
  const layout = planDisk('bios', PARTITION_START + Math.ceil(size / MiB) * MiB, seed);
  await writeDisk(layout, { windows: partition }, LAYER_DISK_FORMAT, out, { identity: seed });
}

export interface OpenedLayer {
  /** The layer disk's file, or its LUN's iscsi:// URL. */
  disk: string;
  /** The layer's NTFS volume: read in place from its disk, or the file it was extracted to. */
  volume: VolumeRef;
  /** Bytes of the layer disk's partition (the volume's own size). */
  partitionSize: number;
  metadata: LayerMetadata;
  deletions: string[];
  registry?: Buffer;
  /** Releases the layer disk (when read in place). */
  close(): Promise<void>;
}

function parseJson<T>(bytes: Buffer, schema: { parse(value: unknown): T }, what: string): T {
  try {
    return schema.parse(JSON.parse(bytes.toString('utf8')));
  } catch (err) {
    throw new ComposeError(
      `${what} is invalid: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
}

export interface OpenLayerOptions {
  /**
   * Extract the volume into this partition image file (of at least `targetSize` bytes, for a
   * volume that will grow) instead of reading it in place: for the OS layer, whose volume
   * becomes the image's.
   */
  extractTo?: string;
  targetSize?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/** Opens a layer disk (a file, or a LUN that shows one) and reads its metadata. */
export async function openLayer(input: LayerInput, options: OpenLayerOptions = {}): Promise<OpenedLayer> {
  const disk = layerInputName(input);
  let volume: VolumeRef;
  let partitionSize: number;
  let close = () => Promise.resolve();
  if (options.extractTo) {
    if (typeof input !== 'string')
      throw new ComposeError(`${disk}: a layer on a LUN is read in place, never extracted`);
    partitionSize = await extractWindowsPartition(input, options.extractTo, options);
    volume = options.extractTo;
  } else {
    const served = await openWindowsPartition(input);
    volume = served;
    partitionSize = served.size;
    close = () => served.close();
  }
  try {
    const layerJson = await readOptionalFile(volume, METADATA_FILES.layer);
    if (!layerJson) throw new ComposeError(`${disk} is not a Lamina layer disk (no ${METADATA_FILES.layer})`);
    const metadata = parseJson(layerJson, LayerMetadata, `${disk}: layer.json`);
    const deletionsJson = await readOptionalFile(volume, METADATA_FILES.deletions);
    const deletions = deletionsJson
      ? parseJson(deletionsJson, LayerDeletions, `${disk}: deletions.json`)
      : [];
    const registry = await readOptionalFile(volume, METADATA_FILES.registry);
    return { disk, volume, partitionSize, metadata, deletions, registry, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Opens a layer disk for the length of `task`. */
export async function withLayer<T>(disk: string, task: (layer: OpenedLayer) => Promise<T>): Promise<T> {
  const layer = await openLayer(disk);
  try {
    return await task(layer);
  } finally {
    await layer.close();
  }
}

/** A file's bytes, or undefined when the volume has no such file. */
export async function readOptionalFile(volume: VolumeRef, windowsPath: string): Promise<Buffer | undefined> {
  try {
    return await readVolumeFile(volume, toVolumePath(windowsPath));
  } catch (err) {
    if (err instanceof NtfsCoreError && /No such file/.test(err.message)) return undefined;
    throw err;
  }
}
