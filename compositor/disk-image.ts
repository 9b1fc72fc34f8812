import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  BlockMappedDisk,
  copyDisk,
  createDiskWriter,
  DISK_FORMATS,
  openDisk,
  PARTITION_TYPE,
  readPartitionTable,
  type DiskFormat,
  type DiskWriter,
  type Extent,
  type VirtualDisk,
} from '../disk';
import { isZero } from '../disk/zero';
import { processRecord } from '../lib/processes';
import type { DiskLayout } from './disk-layout';
import { layerInputName, lunDeviceName, lunEnvironment, openIscsiDisk, type LayerInput } from './iscsi-lun';
import type { ProgressListener, ServedVolume } from './native';
import { ComposeError } from './errors';

/**
 * The container step, in one place: reading a partition out of a VM disk of any format, and
 * writing a disk from a layout and partition image files through disk/'s streaming writers.
 * Everything else in the compositor works on partition image files.
 */

export type OutputFormat = DiskFormat;
export const OUTPUT_FORMATS: readonly OutputFormat[] = DISK_FORMATS;

/** A partition's content: a partition image file the size of the partition. */
export type PartitionContents = Partial<Record<'esp' | 'windows', string>>;

const MBR_NTFS = '07';
const CHUNK = 4 * 2 ** 20;

/** A GUID derived from `seed`: same inputs, same identities. */
export function derivedGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

interface Placed {
  offset: number;
  /** Bytes in memory (partition table pieces) or a partition image opened as a raw disk. */
  source: Buffer | VirtualDisk;
}

/**
 * The disk being written, seen as one VirtualDisk: the table's bytes and each partition image at
 * its offset, zeros elsewhere. disk/'s convertDisk streams its extents (ascending, so
 * vmdk-stream works) into any format.
 */
class AssembledDisk implements VirtualDisk {
  readonly path = '(assembled image)';
  readonly format = 'raw' as const;
  readonly sectorSize = 512;
  private readonly placedExtents: (Extent & { piece: Placed })[];

  constructor(
    readonly virtualSize: number,
    pieces: Placed[],
  ) {
    this.placedExtents = pieces
      .flatMap((piece) =>
        Buffer.isBuffer(piece.source)
          ? [{ offset: piece.offset, length: piece.source.length, piece }]
          : piece.source.extents().map((e) => ({ offset: piece.offset + e.offset, length: e.length, piece })),
      )
      .sort((a, b) => a.offset - b.offset);
  }

  get allocatedBytes(): number {
    return this.placedExtents.reduce((sum, e) => sum + e.length, 0);
  }

  extents(): Extent[] {
    return this.placedExtents.map(({ offset, length }) => ({ offset, length }));
  }

  async read(target: Buffer, offset: number): Promise<void> {
    target.fill(0);
    const end = offset + target.length;
    for (const { piece } of this.placedExtents.filter(
      (e) => e.offset < end && e.offset + e.length > offset,
    )) {
      const size = Buffer.isBuffer(piece.source) ? piece.source.length : piece.source.virtualSize;
      const from = Math.max(offset, piece.offset);
      const to = Math.min(end, piece.offset + size);
      if (from >= to) continue;
      const window = target.subarray(from - offset, to - offset);
      if (Buffer.isBuffer(piece.source)) piece.source.copy(window, 0, from - piece.offset, to - piece.offset);
      else await piece.source.read(window, from - piece.offset);
    }
  }

  /** The pieces belong to completeDisk, which closes them. */
  async close(): Promise<void> {}
}

/**
 * Writes a whole disk to `out` in `format`: partition table, then each partition image at its
 * offset, zero blocks never written. The file appears at `out` only when complete.
 */
export async function writeDisk(
  layout: DiskLayout,
  contents: PartitionContents,
  format: OutputFormat,
  out: string,
  options: WriteDiskOptions & { /** seeds the container's ids */ identity?: string } = {},
): Promise<void> {
  const writer = await createDiskWriter(format, out, {
    virtualSize: layout.size,
    identity: options.identity,
  });
  await completeDisk(writer, layout, contents, options);
}

export interface WriteDiskOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/**
 * Writes the partition table and the partitions in `contents` into `writer` and finishes it (or
 * aborts it on failure). Partitions missing from `contents` are left as the writer has them.
 */
export async function completeDisk(
  writer: DiskWriter,
  layout: DiskLayout,
  contents: PartitionContents,
  { onProgress, signal }: WriteDiskOptions = {},
): Promise<void> {
  const pieces: Placed[] = layout.table.map((segment) => ({ offset: segment.offset, source: segment.data }));
  try {
    for (const partition of layout.partitions) {
      const file = partition.role === 'msr' ? undefined : contents[partition.role];
      if (file) pieces.push({ offset: partition.offset, source: await openDisk(file) });
    }
    await copyDisk(new AssembledDisk(layout.size, pieces), writer, {
      onProgress: onProgress && (({ done, total }) => onProgress({ phase: 'write', done, total })),
      signal,
    });
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    for (const piece of pieces) if (!Buffer.isBuffer(piece.source)) await piece.source.close();
  }
}

const VOLUME_FOLDER = 'lamina-volume-';
/** `lamina-volume-<pid>-<start time>-<random>`: the owner's pid and start time (see lib/processes.ts). */
const OWNED_VOLUME_FOLDER = /^lamina-volume-(\d+)-(\d+)-[^-]+$/;

/** Folders sharing a volume are named after the process that made them, so a sweep knows if it still runs. */
function volumeFolderPrefix(): string {
  const self = processRecord(process.pid);
  return self ? `${VOLUME_FOLDER}${self.pid}-${self.startTime}-` : VOLUME_FOLDER;
}

/**
 * Removes the folders `openWindowsPartition` shares volumes through (`$TMPDIR/lamina-volume-*`) whose
 * process no longer runs: one killed mid-compose (kill -9) could not remove its own. A folder of a live
 * process (another worker on this machine) stays; one named without its owner (an older Lamina's) goes
 * when it is older than this process. Answers the folders removed.
 */
export async function removeOrphanedVolumeFolders(): Promise<string[]> {
  const dir = tmpdir();
  const startedAt = Date.now() - process.uptime() * 1000;
  const removed: string[] = [];
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(VOLUME_FOLDER)) continue;
    const folder = path.join(dir, name);
    const owner = OWNED_VOLUME_FOLDER.exec(name);
    const orphaned = owner
      ? processRecord(Number(owner[1]))?.startTime !== owner[2]
      : ((await fs.stat(folder).catch(() => undefined))?.mtimeMs ?? Infinity) < startedAt;
    if (!orphaned) continue;
    await fs.rm(folder, { recursive: true, force: true });
    removed.push(folder);
  }
  return removed;
}

function isWindowsType(type: string): boolean {
  return type.toUpperCase() === PARTITION_TYPE['basic-data'] || type === MBR_NTFS;
}

/**
 * The Windows partition of a VM disk (any format, MBR or GPT; a file or an iSCSI LUN), left open for
 * reading in place: the largest NTFS / basic-data partition whose boot sector says NTFS. Close it when done.
 */
export async function openWindowsPartition(input: LayerInput): Promise<ServedVolume> {
  const diskPath = layerInputName(input);
  const disk = typeof input === 'string' ? await openDisk(input) : await openIscsiDisk(input);
  let mapDir: string | undefined;
  try {
    const table = await readPartitionTable(disk);
    if (!table) throw new ComposeError(`${diskPath}: no MBR or GPT partition table`);
    const boot = Buffer.alloc(512);
    const ntfs = [];
    for (const partition of table.partitions.filter((p) => isWindowsType(p.type))) {
      await disk.read(boot, partition.start);
      if (boot.toString('latin1', 3, 11) === 'NTFS    ') ntfs.push(partition);
    }
    const windows = ntfs.sort((a, b) => b.size - a.size)[0];
    if (!windows) throw new ComposeError(`${diskPath}: no NTFS partition found`);
    // Read by the NTFS core straight from the file where it can: no copy through this process.
    let mapFile: string | undefined;
    if (disk instanceof BlockMappedDisk) {
      mapDir = await fs.mkdtemp(path.join(tmpdir(), volumeFolderPrefix()));
      mapFile = path.join(mapDir, 'volume.map');
      if (!(await disk.shareForReading(mapFile, { offset: windows.start, size: windows.size })))
        mapFile = undefined;
    }
    const dir = mapDir;
    return {
      disk,
      start: windows.start,
      size: windows.size,
      mapFile,
      // The core logs in to the LUN itself: no byte of the volume passes through this process.
      device:
        typeof input === 'string'
          ? undefined
          : { name: lunDeviceName(input, windows.start, windows.size), environment: lunEnvironment(input) },
      close: async () => {
        await disk.close();
        if (dir) await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await disk.close();
    if (mapDir) await fs.rm(mapDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Copies the Windows partition of a VM disk to `target` as a sparse partition image of at least
 * `targetSize` bytes (room to grow into), reading only the disk's allocated extents. Returns the
 * partition's own size.
 */
export async function extractWindowsPartition(
  diskPath: string,
  target: string,
  options: { targetSize?: number; onProgress?: ProgressListener; signal?: AbortSignal } = {},
): Promise<number> {
  const windows = await openWindowsPartition(diskPath);
  try {
    const fileSize = Math.max(windows.size, options.targetSize ?? 0);
    await copyRange(windows.disk, windows.start, windows.size, target, fileSize, options);
    return windows.size;
  } finally {
    await windows.close();
  }
}

/** Copies a byte range of a disk into a new sparse file of `fileSize` bytes, reading only its allocated extents. */
async function copyRange(
  disk: VirtualDisk,
  start: number,
  length: number,
  target: string,
  fileSize: number,
  { onProgress, signal }: { onProgress?: ProgressListener; signal?: AbortSignal },
): Promise<void> {
  const out = await fs.open(target, 'w');
  try {
    await out.truncate(fileSize);
    const ranges = disk
      .extents()
      .map((e) => ({ from: Math.max(start, e.offset), to: Math.min(start + length, e.offset + e.length) }))
      .filter((r) => r.from < r.to);
    const total = ranges.reduce((sum, r) => sum + r.to - r.from, 0);
    let done = 0;
    onProgress?.({ phase: 'clone', done, total });
    const buffer = Buffer.alloc(CHUNK);
    for (const { from, to } of ranges) {
      for (let at = from; at < to; at += CHUNK) {
        signal?.throwIfAborted();
        const chunk = buffer.subarray(0, Math.min(CHUNK, to - at));
        await disk.read(chunk, at);
        if (!isZero(chunk)) await out.write(chunk, 0, chunk.length, at - start);
        done += chunk.length;
      }
    }
    onProgress?.({ phase: 'clone', done, total });
  } finally {
    await out.close();
  }
}
