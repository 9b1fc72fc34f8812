import { allocDirectBuffer } from './direct-io';
import { createDiskWriter } from './open';
import { DiskFormat, DiskWriter, Extent, VirtualDisk, WriterOptions } from './types';

/**
 * Copy unit, aligned so every format's blocks split evenly. One direct read of 16 MiB is four of
 * the disk's 4 MiB requests in flight at once, from one of libuv's four threads: 4 MiB reads, one
 * request each, kept this VM's disk at 0.7-0.8 GB/s where 16 MiB ones reach 1.1-1.6 GB/s. A 16 MiB
 * write goes out behind the writer as one range (write-behind.ts).
 */
const CHUNK_SIZE = 16 * 1024 * 1024;

export interface CopyProgress {
  /** Bytes of the source's allocated extents (and the small holes read with them) copied so far, and in all. */
  done: number;
  total: number;
}

export interface CopyOptions {
  onProgress?: (progress: CopyProgress) => void;
  signal?: AbortSignal;
}

/**
 * Holes this small between two extents are read with them, as zeros: reading a hole costs the
 * disk nothing, and one read instead of two matters on a file system's image, whose small files
 * leave many small gaps (an NTFS volume of program files: 339 of its 737 gaps under 64 KiB). The
 * writers leave the zeros unallocated where a whole block or grain of them lands on free space.
 */
const MERGE_GAP = 64 * 1024;

/** The source's extents with the holes of up to MERGE_GAP between them filled: what the copy reads. */
function readRanges(extents: Extent[]): Extent[] {
  const merged: Extent[] = [];
  for (const extent of extents) {
    const last = merged[merged.length - 1];
    if (last && extent.offset - (last.offset + last.length) <= MERGE_GAP)
      last.length = extent.offset + extent.length - last.offset;
    else merged.push({ ...extent });
  }
  return merged;
}

/** Ranges cut at CHUNK_SIZE boundaries of the guest address space. */
function* chunks(ranges: Extent[]): Generator<Extent> {
  for (const extent of ranges) {
    for (let offset = extent.offset; offset < extent.offset + extent.length;) {
      const end = Math.min(extent.offset + extent.length, (Math.floor(offset / CHUNK_SIZE) + 1) * CHUNK_SIZE);
      yield { offset, length: end - offset };
      offset = end;
    }
  }
}

/**
 * Reads in flight: they run ahead of the writes, concurrently, which is what keeps a cold source
 * busy. Four instead of two: a volume of real files is read in pieces of a few MiB (its extents:
 * median 0.9 MiB, 15 MiB apart), one request each, and this VM's disk serves several at once a
 * little faster (1.9 GB of them read direct, median of 3: 1.25 s with 2 in flight, 1.24 s with 4,
 * 1.17 s with 8). Converting that volume to VHDX cold, alternating with 2 reads in flight: median
 * 2.77 s against 2.88 s, faster in 12 of 16 pairs (load average 1-3.6). A small gain; 2 GiB in
 * 32 MiB pieces to VHD measured the same either way.
 */
const READ_AHEAD = 4;

/**
 * Buffers in the ring: READ_AHEAD being read, two being written (a buffered write returns once its
 * bytes are in the page cache, or after the writeback of the range 64 MiB behind it: write-behind.ts).
 * 96 MiB in all.
 */
const DEPTH = READ_AHEAD + 2;

/** Chunks copied file to file at a time (DiskWriter.copyFrom): as many as writes in flight. */
const COPIES = 2;

/**
 * Streams every allocated extent of `source` into `writer`. Chunks are read ahead, several at
 * once, and handed to the writer strictly in order (vmdk-stream needs it) as their reads finish;
 * each chunk's write runs while later chunks are read. Memory stays at DEPTH chunks whatever
 * the disk size.
 */
export async function copyDisk(
  source: VirtualDisk,
  writer: DiskWriter,
  options: CopyOptions = {},
): Promise<void> {
  const ranges = readRanges(source.extents());
  const total = ranges.reduce((sum, e) => sum + e.length, 0);
  // A slot's buffer is allocated at its first read: a copy from a cached source may need none.
  const ring = Array.from({ length: DEPTH }, () => ({
    buffer: undefined as Buffer | undefined,
    reading: Promise.resolve(),
    writing: Promise.resolve(),
  }));
  type Slot = (typeof ring)[number];
  const readAhead: { slot: Slot; data: Buffer; offset: number }[] = [];
  let done = 0;
  let index = 0;
  // The writer reserves its file space while the first chunks are read; the writes wait for it.
  const reserving = writer.expectWrites?.(ranges) ?? Promise.resolve();
  reserving.catch(() => undefined); // observed in writeOldest
  const started = (slot: Slot, writing: Promise<void>, length: number) => {
    slot.writing = writing;
    slot.writing.catch(() => undefined); // observed below; keeps a failure from being "unhandled" meanwhile
    done += length;
    options.onProgress?.({ done, total });
  };
  const writeOldest = async () => {
    const next = readAhead.shift();
    if (!next) return;
    await reserving;
    await next.slot.reading;
    started(next.slot, writer.write(next.data, next.offset), next.data.length);
  };
  try {
    for (const chunk of chunks(ranges)) {
      options.signal?.throwIfAborted();
      const slot = ring[index++ % DEPTH];
      await slot.writing; // the buffer is free again once its previous write has landed
      // A source in the page cache is copied file to file, COPIES at a time, in order with the
      // chunks read before it.
      const range = writer.copyFrom && (await source.fileRange?.(chunk.offset, chunk.length));
      if (range) {
        while (readAhead.length > 0) await writeOldest();
        await reserving;
        await ring[(index - 1 + DEPTH - COPIES) % DEPTH].writing;
        started(slot, writer.copyFrom!(range, chunk.offset), chunk.length);
        continue;
      }
      slot.buffer ??= allocDirectBuffer(CHUNK_SIZE);
      const data = slot.buffer.subarray(0, chunk.length);
      slot.reading = source.read(data, chunk.offset);
      slot.reading.catch(() => undefined); // observed in writeOldest
      readAhead.push({ slot, data, offset: chunk.offset });
      if (readAhead.length >= READ_AHEAD) await writeOldest();
    }
    while (readAhead.length > 0) await writeOldest();
  } finally {
    // Never leave a read or write running behind an error.
    await Promise.allSettled([reserving, ...ring.flatMap((slot) => [slot.reading, slot.writing])]);
  }
  await Promise.all(ring.map((slot) => slot.writing));
}

/**
 * Converts `source` into a new `format` file at `outPath`. Either the complete file appears at
 * `outPath`, or nothing does.
 */
export async function convertDisk(
  source: VirtualDisk,
  format: DiskFormat,
  outPath: string,
  options: CopyOptions & Omit<WriterOptions, 'virtualSize'> = {},
): Promise<void> {
  const writer = await createDiskWriter(format, outPath, { ...options, virtualSize: source.virtualSize });
  try {
    await copyDisk(source, writer, options);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish();
}
