import { execFile } from 'node:child_process';
import type { Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import {
  runNtfsCore,
  volumeArgument,
  type ProgressListener,
  type ServedVolume,
  type VolumeRef,
} from './native';
import { encodeOperations, type VolumeOperation } from './volume-operations';
import { ComposeError } from './errors';

/**
 * NTFS volumes held in partition image files (sparse files the size of the partition). All
 * file-level work goes through the native core; volume-level work uses ntfs-3g's own mkntfs and
 * ntfsresize, which already do those jobs right.
 */

const run = promisify(execFile);

export interface VolumeEntry {
  /** `/`-separated path inside the volume, e.g. `/Windows/System32/config/SYSTEM`. */
  path: string;
  dir: boolean;
  /** Bytes of all data streams. */
  size: number;
}

export interface FormatOptions {
  label: string;
  /** Where the partition starts on its disk, in 512-byte sectors: Windows boots only when it is right. */
  startSector: number;
}

/** Makes an empty NTFS volume filling `file` (created sparse at `size` bytes). */
export async function formatVolume(file: string, size: number, options: FormatOptions): Promise<void> {
  await fs.writeFile(file, '');
  await fs.truncate(file, size);
  // -T: fixed timestamps and serial, so the same call gives the same bytes.
  await run('mkntfs', [
    '-F',
    '-Q',
    '-T',
    '-q',
    '-s',
    '512',
    '-p',
    String(options.startSector),
    '-H',
    '255',
    '-S',
    '63',
    '-L',
    options.label,
    file,
  ]);
}

/**
 * Copies the allocated clusters of the volume `source` into a new sparse file `target` of the
 * same size: free space (and whatever stale data it held) stays behind.
 */
export async function cloneVolume(
  source: VolumeRef,
  target: string,
  options: CloneOptions = {},
): Promise<void> {
  await fs.writeFile(target, '');
  await fs.truncate(
    target,
    options.size ?? (typeof source === 'string' ? (await fs.stat(source)).size : source.size),
  );
  await cloneVolumeInto(source, target, options);
}

export interface CloneOptions extends CoreOptions {
  /** Size of the new file, when bigger than the volume (room to grow into). */
  size?: number;
  /** Only the file system's own structures, not files' data: what growVolume needs. */
  metadataOnly?: boolean;
}

/** Copies the allocated clusters of `source` into the volume `target` names (a file or a mapped volume) as it is. */
export async function cloneVolumeInto(
  source: VolumeRef,
  target: string,
  { metadataOnly, onProgress, signal }: CloneOptions = {},
): Promise<void> {
  await runNtfsCore(['clone', ...(metadataOnly ? ['--metadata-only'] : []), volumeArgument(source), target], {
    onProgress,
    signal,
    ...served(source),
  });
}

/** Copies every data range of the sparse partition image `file` over the volume `target` names. */
export async function copyVolumeData(
  file: string,
  target: string,
  { signal }: CoreOptions = {},
): Promise<void> {
  await runNtfsCore(['copy-data', file, target], { signal });
}

/** Writes the cluster bitmap of `volume` ($Bitmap: a bit per cluster, 1 = in use) to `file`. */
export async function clusterBitmap(
  volume: VolumeRef,
  file: string,
): Promise<{ clusterSize: number; clusters: number }> {
  const output = await runNtfsCore(['bitmap', volumeArgument(volume), file], {
    stdout: 'data',
    ...served(volume),
  });
  return JSON.parse(output.toString('utf8')) as { clusterSize: number; clusters: number };
}

/** Grows the volume (of `volumeSize` bytes) in `file` to fill the file's `size` bytes, with ntfsresize. */
export async function growVolume(
  file: string,
  volumeSize: number,
  size: number,
  { onProgress, signal }: CoreOptions = {},
): Promise<void> {
  if (size < volumeSize)
    throw new ComposeError(`cannot shrink a ${mib(volumeSize)} MiB volume to ${mib(size)} MiB`);
  if (size === volumeSize) return;
  onProgress?.({ phase: 'grow', done: 0, total: size });
  // -f twice: no interactive confirmation, no chkdsk-was-run check (the volume is ours).
  await run('ntfsresize', ['-f', '-f', '-s', String(size), file], { maxBuffer: 16 * 1024 * 1024, signal });
  onProgress?.({ phase: 'grow', done: size, total: size });
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/**
 * Clears the dirty flag and stamps the serial number and the partition's start sector (a
 * cloned volume may sit elsewhere than where it was made): the last step on every volume we write.
 */
export async function finalizeVolume(file: string, serial: Buffer, partitionOffset: number): Promise<void> {
  await runNtfsCore(['finalize', file, serial.subarray(0, 8).toString('hex'), String(partitionOffset / 512)]);
}

/** What every long-running core command takes: the frozen clock, progress, cancellation. */
export interface CoreOptions {
  epoch?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ApplyOptions extends CoreOptions {
  /** Sees every byte sent to the core: a layer's content hash. */
  hash?: Hash;
}

export async function applyToVolume(
  file: string,
  operations: AsyncIterable<VolumeOperation> | Iterable<VolumeOperation>,
  { hash, ...options }: ApplyOptions = {},
): Promise<void> {
  const encoded = encodeOperations(operations);
  await runNtfsCore(['apply', file], { input: hash ? hashing(encoded, hash) : encoded, ...options });
}

async function* hashing(chunks: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
}

export async function overlayVolume(
  layer: VolumeRef,
  image: string,
  options: CoreOptions = {},
): Promise<void> {
  await runNtfsCore(['overlay', volumeArgument(layer), image], { ...options, ...served(layer) });
}

function served(volume: VolumeRef): { served?: ServedVolume } {
  return typeof volume === 'string' ? {} : { served: volume };
}

/**
 * Every file and directory except NTFS metafiles and `\.lamina`; with `folder` (`/`-separated),
 * only what is under it (nothing when it does not exist).
 */
export async function listVolume(volume: VolumeRef, folder?: string): Promise<VolumeEntry[]> {
  const output = await runNtfsCore(['list', volumeArgument(volume), ...(folder ? [folder] : [])], {
    stdout: 'data',
    ...served(volume),
  });
  return output
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as VolumeEntry);
}

/** Reads a file (or `path:stream`) from the volume. */
export async function readVolumeFile(volume: VolumeRef, volumePath: string): Promise<Buffer> {
  return runNtfsCore(['cat', volumeArgument(volume), volumePath], { stdout: 'data', ...served(volume) });
}
