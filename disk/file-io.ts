import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { allocDirectBuffer, canUseDirect, openDirect, residentBytes } from './direct-io';
import { DiskFormatError } from './errors';
import { mergeRanges, punchHoles, reserveSpace, subtractRanges } from './file-space';
import { loadNativeAddon } from '../lib/native-addon';
import type { Extent, FileRange } from './types';
import { WriteBehind } from './write-behind';
import { isZero } from './zero';

/** Bytes that replace part of a file as it is read (VHDX log replay); no `data` means zeros. */
export interface FilePatch {
  offset: number;
  length: number;
  data?: Buffer;
}

/** Reads this big and bigger (a conversion's chunks), into direct-I/O memory, skip the page cache. */
const DIRECT_READ_MINIMUM = 1024 * 1024;

/**
 * A disk file opened for reading; every read is exact or fails with a DiskFormatError naming what
 * was being read. Patches, applied in order over what the file holds, let a log be replayed
 * without writing to the file.
 */
export class InputFile {
  private patches: FilePatch[] = [];
  private logicalSize: number;
  /** The O_DIRECT handle for bulk reads, opened at the first one (undefined inside: refused). */
  private direct: Promise<fs.FileHandle | undefined> | undefined;

  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    private readonly fileSize: number,
    /** Bytes the filesystem really stores for the file (st_blocks * 512). */
    readonly storedBytes: number,
  ) {
    this.logicalSize = fileSize;
  }

  static async open(file: string): Promise<InputFile> {
    const handle = await fs.open(file, 'r');
    try {
      const stat = await handle.stat();
      // Block devices report size 0 through stat, which would read as an empty disk; refuse them plainly.
      if (!stat.isFile())
        throw new Error(`${file}: not a regular file (disk images only; devices are not supported)`);
      return new InputFile(file, handle, stat.size, stat.blocks * 512);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The file descriptor, for asking the kernel about the file (its data map: formats/raw-extents.ts). */
  get fd(): number {
    return this.handle.fd;
  }

  /** Whether reads see patches (a replayed log) over the file's own bytes. */
  get patched(): boolean {
    return this.patches.length > 0;
  }

  /** The file's length, as extended by patches. */
  get size(): number {
    return this.logicalSize;
  }

  /** From now on reads see `patches` (later ones win) and a file at least `size` bytes long. */
  applyPatches(patches: FilePatch[], size: number): void {
    this.patches = patches;
    this.logicalSize = Math.max(this.fileSize, size);
  }

  /** Reads `length` bytes at `offset`; a file that ends early is reported as a truncated `structure`. */
  async readStructure(structure: string, offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    await this.readInto(structure, buffer, offset);
    return buffer;
  }

  async readInto(structure: string, target: Buffer, offset: number): Promise<void> {
    if (offset < 0 || offset + target.length > this.size) {
      throw new DiskFormatError(
        this.path,
        structure,
        offset,
        `needs ${target.length} bytes but the file is ${this.size} bytes long (truncated?)`,
      );
    }
    const inFile = Math.max(0, Math.min(target.length, this.fileSize - offset));
    let done = 0;
    if (inFile === target.length) done = await this.readDirect(target, offset);
    while (done < inFile) {
      const { bytesRead } = await this.handle.read(target, done, inFile - done, offset + done);
      if (bytesRead === 0)
        throw new DiskFormatError(this.path, structure, offset + done, 'file ends early (truncated)');
      done += bytesRead;
    }
    target.fill(0, inFile);
    for (const patch of this.patches) overlay(target, offset, patch);
  }

  /** Reads what it can of `target` past the page cache (see direct-io.ts): bytes read, 0 if not. */
  private async readDirect(target: Buffer, offset: number): Promise<number> {
    if (target.length < DIRECT_READ_MINIMUM || !canUseDirect(target, offset)) return 0;
    this.direct ??= this.openDirectUnlessCached();
    const handle = await this.direct;
    if (!handle) return 0;
    try {
      return (await handle.read(target, 0, target.length, offset)).bytesRead;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.direct = Promise.resolve(undefined); // opened, but reads refused: the page cache it is
      await handle.close();
      return 0;
    }
  }

  /**
   * Whether bulk reads of this file go through the page cache (most of it is cached, or direct I/O
   * is refused): then a copy to another file is cheapest in the kernel (OutputFile.copyFrom).
   */
  async readsThroughCache(): Promise<boolean> {
    this.direct ??= this.openDirectUnlessCached();
    return (await this.direct) === undefined;
  }

  /**
   * The O_DIRECT handle, or undefined when most of the file is in the page cache already (read
   * or written a moment ago): a direct read would fetch from the disk what a buffered read copies
   * from memory, and the cache holds it whether or not this read uses it.
   */
  private async openDirectUnlessCached(): Promise<fs.FileHandle | undefined> {
    const cached = await residentBytes(this.handle.fd, this.fileSize);
    if (cached !== undefined && cached * 2 >= this.storedBytes) return undefined;
    return openDirect(this.path);
  }

  async close(): Promise<void> {
    const direct = await this.direct;
    this.direct = undefined;
    await direct?.close();
    await this.handle.close();
  }
}

/** Chunks readFileChunks hands out: a 4 MiB direct read is one of the disk's requests. */
const FILE_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * A file, in order from byte `from` (a multiple of 4 KiB, so the reads can go direct) to its end, in
 * chunks read into two direct-I/O buffers that are used again and again (the next chunk is read
 * while the caller handles this one; a chunk is valid until the next is asked for). For hashing an
 * image just written, and copying it: a stream's fresh 4 MiB buffer per chunk, and the page cache
 * filled with an image nobody reads again, cost a page fault for every 4 KiB on this VM (see
 * direct-io.ts), more than the hashing itself.
 */
export async function* readFileChunks(file: string, from = 0): AsyncGenerator<Buffer> {
  const input = await InputFile.open(file);
  const buffers = [allocDirectBuffer(FILE_CHUNK_BYTES), allocDirectBuffer(FILE_CHUNK_BYTES)];
  const readChunk = (index: number, offset: number): Promise<Buffer> => {
    const chunk = buffers[index % 2].subarray(0, Math.min(FILE_CHUNK_BYTES, input.size - offset));
    const reading = input.readInto('file', chunk, offset).then(() => chunk);
    reading.catch(() => undefined); // awaited below; keeps a failure from being "unhandled" meanwhile
    return reading;
  };
  let next = from < input.size ? readChunk(0, from) : undefined;
  try {
    for (let index = 0, offset = from; next; index++) {
      const chunk = await next;
      offset += chunk.length;
      next = offset < input.size ? readChunk(index + 1, offset) : undefined;
      yield chunk;
    }
  } finally {
    await next?.catch(() => undefined); // a caller that stopped early: no read left running on a closed file
    await input.close();
  }
}

/** Copies the part of `patch` that falls inside the read of `target.length` bytes at `offset`. */
function overlay(target: Buffer, offset: number, patch: FilePatch): void {
  const start = Math.max(offset, patch.offset);
  const end = Math.min(offset + target.length, patch.offset + patch.length);
  if (start >= end) return;
  if (patch.data) patch.data.copy(target, start - offset, start - patch.offset, end - patch.offset);
  else target.fill(0, start - offset, end - offset);
}

interface CopyAddon {
  copyFileRanges(fdIn: number, fdOut: number, steps: Float64Array, pages: Buffer[]): Promise<void>;
  zeroRanges(fd: number, ranges: Float64Array): Promise<Uint8Array>;
}

/** A step of OutputFile.copyFrom: bytes of the source range, or bytes in memory, for one file offset. */
export type CopyStep = { fileOffset: number } & ({ at: number; length: number } | { data: Buffer });

function stepLength(step: CopyStep): number {
  return 'data' in step ? step.data.length : step.length;
}

let copyAddon: CopyAddon | undefined;

/** splice errors that say it cannot move bytes between these files: they are read and written instead. */
const COPY_NOT_SUPPORTED = new Set(['EXDEV', 'ENOSYS', 'EINVAL', 'EOPNOTSUPP']);

/** zeroParts reads this much of a part first: one byte not zero in it is enough. */
const ZERO_PROBE = 4096;
/** ...and the rest, where those are zeros, this much at a time. */
const ZERO_SCAN = 1024 * 1024;

/**
 * Whether each of `parts` of `range` (`length` bytes from `at` bytes into it) holds only zeros: the
 * file read in native code, the first 4 KiB of each part and the rest only while all is zeros, in
 * one job of the thread pool for all of them (a chunk to VMDK has 256 grains: a read each through
 * Node cost more CPU than the copy saved). Where the file cannot be read so, by `range.read`.
 */
export async function zeroParts(
  range: FileRange,
  parts: { at: number; length: number }[],
): Promise<boolean[]> {
  if (parts.length === 0) return [];
  copyAddon ??= loadNativeAddon<CopyAddon>('lamina_io');
  const ranges = new Float64Array(parts.length * 2);
  parts.forEach((part, i) => {
    ranges[i * 2] = range.fileOffset + part.at;
    ranges[i * 2 + 1] = part.length;
  });
  try {
    return [...(await copyAddon.zeroRanges(range.fd, ranges))].map((flag) => flag === 1);
  } catch {
    // Read as a read of the range would be, which reports a file that ends early as it should.
    const zero: boolean[] = [];
    const scan = Buffer.alloc(Math.min(ZERO_SCAN, Math.max(...parts.map((part) => part.length))));
    for (const part of parts) {
      let allZero = true;
      for (let done = 0; done < part.length && allZero;) {
        const piece = scan.subarray(0, Math.min(done === 0 ? ZERO_PROBE : ZERO_SCAN, part.length - done));
        await range.read(piece, part.at + done);
        allZero = isZero(piece);
        done += piece.length;
      }
      zero.push(allZero);
    }
    return zero;
  }
}

/** A piece of a write: bytes destined for one file offset. */
export interface Segment {
  fileOffset: number;
  data: Buffer;
}

/**
 * The file a writer produces. It lives under a hidden temporary name in the destination folder
 * (same filesystem, so the final rename is atomic) and only takes the real name in `commit()`,
 * after its bytes are on disk: a crash never leaves a renamed but incomplete file. Its writes are
 * written back behind the writer and leave the page cache once on disk (write-behind.ts).
 */
export class OutputFile {
  private closed = false;
  /** splice refused between the source and this file (copyFrom): every copy reads and writes. */
  private copyUnsupported = false;
  /** Space allocated ahead of writes (reserve), and every write since, until releaseReservation. */
  private reservation: { ranges: Extent[]; end: number; written: Extent[] } | undefined;
  private readonly behind: WriteBehind;

  private constructor(
    readonly finalPath: string,
    readonly tempPath: string,
    private readonly handle: fs.FileHandle,
  ) {
    this.behind = new WriteBehind(handle.fd);
  }

  /**
   * The file `tempPath`, to be committed as `finalPath`, for a writer that names its temporary file
   * itself (a copy that resumes finds the bytes an earlier attempt wrote there): kept as it is when
   * `keep`, else created empty. Unlike `create`, a failure leaves it for the next attempt (`close`).
   */
  static async openTemporary(tempPath: string, finalPath: string, keep: boolean): Promise<OutputFile> {
    return new OutputFile(finalPath, tempPath, await fs.open(tempPath, keep ? 'r+' : 'w'));
  }

  static async create(finalPath: string): Promise<OutputFile> {
    const dir = path.dirname(finalPath);
    const tempPath = path.join(
      dir,
      `.${path.basename(finalPath)}.${randomBytes(4).toString('hex')}.lamina-tmp`,
    );
    try {
      return new OutputFile(finalPath, tempPath, await fs.open(tempPath, 'wx'));
    } catch (err) {
      throw new Error(`cannot write ${finalPath}: ${(err as Error).message}`);
    }
  }

  async writeAt(data: Buffer, fileOffset: number): Promise<void> {
    this.reservation?.written.push({ offset: fileOffset, length: data.length });
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, fileOffset + done);
      if (bytesWritten === 0)
        throw new Error(`${this.finalPath}: writing at byte ${fileOffset + done} wrote nothing`);
      done += bytesWritten;
    }
    await this.behind.wrote(fileOffset, data.length);
  }

  /**
   * Writes `steps` in order, each at its `fileOffset`: bytes of `range` (`length` of them from `at`
   * bytes into it), copied file to file in the kernel (splice: native/io/page-cache.cc), or the
   * bytes of `data`. From a source in the page cache a copy is one pass over the bytes, where a
   * read into a buffer and a write from it are two (see disk/README, Choices); one job of the
   * thread pool does all of them. Where the kernel refuses (a file system without splice), the
   * bytes are read and written.
   */
  async copyFrom(range: FileRange, given: CopyStep[]): Promise<void> {
    // Neighbours in both files are one step: a VMDK chunk is 256 grains allocated in a row, and
    // splicing each alone wrote the output in 64 KiB pieces (small folios: see native/io/page-cache.cc).
    const steps: CopyStep[] = [];
    for (const step of given) {
      const last = steps[steps.length - 1];
      if (
        last &&
        !('data' in last) &&
        !('data' in step) &&
        last.at + last.length === step.at &&
        last.fileOffset + last.length === step.fileOffset
      )
        steps[steps.length - 1] = { ...last, length: last.length + step.length };
      else steps.push(step);
    }
    for (const step of steps)
      this.reservation?.written.push({ offset: step.fileOffset, length: stepLength(step) });
    if (!this.copyUnsupported) {
      const triples = new Float64Array(steps.length * 3);
      const pages: Buffer[] = [];
      steps.forEach((step, i) => {
        if ('data' in step) {
          pages.push(step.data);
          triples[i * 3] = -pages.length;
        } else triples[i * 3] = range.fileOffset + step.at;
        triples[i * 3 + 1] = step.fileOffset;
        triples[i * 3 + 2] = stepLength(step);
      });
      copyAddon ??= loadNativeAddon<CopyAddon>('lamina_io');
      try {
        await copyAddon.copyFileRanges(range.fd, this.handle.fd, triples, pages);
        for (const step of steps) await this.behind.wrote(step.fileOffset, stepLength(step));
        return;
      } catch (err) {
        // A source that ends early is reported by range.read below, as a read would report it.
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code !== 'ESHORT' && !COPY_NOT_SUPPORTED.has(code)) throw err;
        if (code !== 'ESHORT') this.copyUnsupported = true;
      }
    }
    // Read and written instead, every step again (a step done already is written the same).
    for (const step of steps) {
      if ('data' in step) await this.writeAt(step.data, step.fileOffset);
      else {
        const bytes = Buffer.allocUnsafe(step.length);
        await range.read(bytes, step.at);
        await this.writeAt(bytes, step.fileOffset);
      }
    }
  }

  /** Writes segments, merging file-contiguous neighbours into one vectored write each. */
  async writeSegments(segments: Segment[]): Promise<void> {
    const writes: Promise<void>[] = [];
    let start = 0;
    for (let i = 1; i <= segments.length; i++) {
      const prev = segments[i - 1];
      if (i < segments.length && segments[i].fileOffset === prev.fileOffset + prev.data.length) continue;
      writes.push(this.writeRun(segments.slice(start, i)));
      start = i;
    }
    // Every write settles before a failure is reported: none is left running on a file about to close.
    const failed = (await Promise.allSettled(writes)).find((w) => w.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async writeRun(run: Segment[]): Promise<void> {
    if (run.length === 1) return this.writeAt(run[0].data, run[0].fileOffset);
    const total = run.reduce((sum, s) => sum + s.data.length, 0);
    this.reservation?.written.push({ offset: run[0].fileOffset, length: total });
    const buffers = run.map((s) => s.data);
    const { bytesWritten } = await this.handle.writev(buffers, run[0].fileOffset);
    // A short vectored write is rare (disk full is an error instead); finish it piece by piece.
    if (bytesWritten < total)
      await this.writeAt(Buffer.concat(buffers).subarray(bytesWritten), run[0].fileOffset + bytesWritten);
    await this.behind.wrote(run[0].fileOffset, bytesWritten);
  }

  /**
   * Allocates the file's `ranges` ahead of the writes planned for them (file-space.ts); they grow
   * the file to the end of the last one. Call it before the writes start, once. Where the file
   * system cannot, the writes go on as before.
   */
  async reserve(ranges: Extent[]): Promise<void> {
    if (this.reservation) throw new Error(`${this.finalPath}: space is already reserved`);
    const merged = mergeRanges(ranges);
    if (merged.length === 0) return;
    const last = merged[merged.length - 1];
    this.reservation = { ranges: merged, end: last.offset + last.length, written: [] };
    await reserveSpace(this.handle.fd, merged);
  }

  /**
   * Ends the reservation: the reserved space no write landed in is deallocated again, and a file
   * the reservation made longer than `size` is cut back to it. Writes after this are not tracked.
   */
  async releaseReservation(size: number): Promise<void> {
    const reservation = this.reservation;
    if (!reservation) return;
    this.reservation = undefined;
    await punchHoles(this.handle.fd, subtractRanges(reservation.ranges, mergeRanges(reservation.written)));
    if (reservation.end > size && (await this.handle.stat()).size > size) await this.handle.truncate(size);
  }

  /** Sets the file length; growing leaves a hole, so this is how the sparse parts are "written". */
  truncate(length: number): Promise<void> {
    return this.handle.truncate(length);
  }

  /**
   * Waits until every write so far is on disk and out of the page cache (write-behind.ts), before
   * another process writes the file.
   */
  flushBehind(): Promise<void> {
    return this.behind.drain();
  }

  /** Makes the file durable, then gives it its real name, durably too. */
  async commit(): Promise<void> {
    await this.behind.drain();
    await this.handle.sync();
    await this.close();
    await fs.rename(this.tempPath, this.finalPath);
    const dir = await fs.open(path.dirname(this.finalPath), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    await fs.rm(this.tempPath, { force: true });
  }

  /** Closes the file and leaves it under its temporary name (see openTemporary). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** Staging for StagedAppender: as big as the copy chunks, so appends go out like copies do. */
const STAGING_BYTES = 4 * 1024 * 1024;

/**
 * Appends a stream of odd-sized pieces (deflated grains, their tables) to an OutputFile through
 * a staging buffer, so they reach the file in chunks of 4 MiB, which go out behind the writer
 * (write-behind.ts). Nothing is
 * in the file until `flush`, which the owner calls once the stream ends.
 */
export class StagedAppender {
  private readonly staging = allocDirectBuffer(STAGING_BYTES);
  private filled = 0;

  /** `start`: the file offset of the first appended byte (a multiple of 4 KiB keeps chunks aligned). */
  constructor(
    private readonly out: OutputFile,
    private flushedTo: number,
  ) {}

  /** The file offset the next appended byte goes to. */
  get position(): number {
    return this.flushedTo + this.filled;
  }

  async append(data: Buffer): Promise<void> {
    for (let done = 0; done < data.length;) {
      const copied = data.copy(this.staging, this.filled, done);
      this.filled += copied;
      done += copied;
      if (this.filled === this.staging.length) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.filled === 0) return;
    await this.out.writeAt(this.staging.subarray(0, this.filled), this.flushedTo);
    this.flushedTo += this.filled;
    this.filled = 0;
  }
}
