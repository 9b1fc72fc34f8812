import type { DiskFormat } from '../domain/disk-formats';

export { DISK_FORMATS } from '../domain/disk-formats';
export type { DiskFormat } from '../domain/disk-formats';

export const SECTOR_SIZE = 512;

/** A range of the virtual disk, in bytes. */
export interface Extent {
  offset: number;
  length: number;
}

/** An opened virtual disk of any format: what the guest would see, independent of the container. */
export interface VirtualDisk {
  readonly path: string;
  readonly format: DiskFormat;
  /** Size the guest sees, in bytes (a multiple of sectorSize). */
  readonly virtualSize: number;
  readonly sectorSize: number;
  /** Bytes of the file that hold guest data (allocated blocks; for raw, the file's allocated blocks). */
  readonly allocatedBytes: number;
  /**
   * The ranges that may hold non-zero data, ascending and non-overlapping. Everything outside
   * them reads as zeros, so a copy can skip it without reading.
   */
  extents(): Extent[];
  /** Fills `target` with the guest bytes starting at `offset`; unallocated ranges read as zeros. */
  read(target: Buffer, offset: number): Promise<void>;
  /**
   * Where the guest bytes at `offset` lie as they are in one file, for a writer to copy them file
   * to file (`DiskWriter.copyFrom`), when that is cheaper than reading them: the file is in the
   * page cache. Undefined where the bytes are not one plain file range or are read past the cache.
   */
  fileRange?(offset: number, length: number): Promise<FileRange | undefined>;
  close(): Promise<void>;
}

/** Guest bytes as they lie in a file (VirtualDisk.fileRange). */
export interface FileRange {
  fd: number;
  /** File offset of the range's first byte. */
  fileOffset: number;
  length: number;
  /** Reads the range's bytes from `at` bytes into it into `target` (a writer's zero detection). */
  read(target: Buffer, at: number): Promise<void>;
}

/**
 * Writes one new disk file. Writes may come in any order (except for `vmdk-stream`, which needs
 * ascending offsets); all-zero blocks that were never written stay unallocated. Nothing appears at
 * the output path until `finish()` resolves; `abort()` removes every trace.
 */
export interface DiskWriter {
  readonly format: DiskFormat;
  readonly virtualSize: number;
  /**
   * Writes `data` at guest byte `offset` (both multiples of 512). Calls may overlap in time if
   * their ranges do not; the caller may reuse `data` once the call resolves.
   */
  write(data: Buffer, offset: number): Promise<void>;
  /**
   * Writes the bytes of `range` at guest byte `offset`, as `write` would, copied file to file in
   * the kernel (splice) instead of passed through a buffer. In the same call order as
   * `write` calls: blocks are allocated in that order.
   */
  copyFrom?(range: FileRange, offset: number): Promise<void>;
  /**
   * The guest ranges about to be written, in the order they will be (a conversion knows them up
   * front), called once before the first write: a writer may reserve file space for them ahead.
   */
  expectWrites?(ranges: Extent[]): Promise<void>;
  /** Writes the format's metadata and renames the temporary file to the output path. */
  finish(): Promise<void>;
  /** Closes and deletes the temporary file; safe to call after a failed write or twice. */
  abort(): Promise<void>;
}

export interface WriterOptions {
  /** Guest size in bytes; rounded up to whole sectors (and to whole MiB for vhd-fixed). */
  virtualSize: number;
  /** Seed for the ids the format stores; same data and seed give a byte-identical file (see identity.ts). */
  identity?: string;
  /**
   * vhdx only: bytes per block, a power of two from 1 to 256 MiB (default 32 MiB, as Hyper-V; 2 MiB
   * for a differencing disk, as Hyper-V).
   */
  blockSize?: number;
  /**
   * vhdx only: the path of a VHDX this disk is a differencing (child) disk of. What is written is
   * the disk's content; only the blocks that differ from the parent are stored, and what is never
   * written reads as the parent (see differencing-writer.ts). virtualSize must be the parent's.
   */
  parent?: string;
  /** vmdk-stream only: the zlib level (default 6, as qemu). */
  compressionLevel?: number;
  /** vmdk-stream only: batches compressed at once; defaults to one per core, up to two (see grain-compressor.ts). */
  threads?: number;
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** Every writer's precondition: whole sectors, inside the disk. */
export function assertWriteInside(data: Buffer, offset: number, virtualSize: number): void {
  if (offset % SECTOR_SIZE !== 0 || data.length % SECTOR_SIZE !== 0) {
    throw new RangeError(`disk writes must be whole sectors: ${data.length} bytes at ${offset}`);
  }
  if (offset < 0 || offset + data.length > virtualSize) {
    throw new RangeError(`write of ${data.length} bytes at ${offset} outside the ${virtualSize}-byte disk`);
  }
}

/** Every reader's precondition: the range lies inside the disk. */
export function assertReadInside(disk: VirtualDisk, target: Buffer, offset: number): void {
  if (offset < 0 || offset + target.length > disk.virtualSize) {
    throw new RangeError(
      `${disk.path}: read of ${target.length} bytes at ${offset} outside the ${disk.virtualSize}-byte disk`,
    );
  }
}
