import { constants, promises as fs } from 'node:fs';
import { loadNativeAddon } from '../lib/native-addon';

/**
 * Direct I/O for the bulk reads of a disk being converted or hashed: filling fresh cache pages and
 * copying out of them costs more CPU than the disk takes to deliver the data (on a VM whose unused
 * memory the host has reclaimed, each fresh page is a fault into the host), and the cache the
 * appliance's layers live in would be evicted by data nobody rereads. Only whole, aligned pieces
 * of 1 MiB and more go direct; a file mostly in the page cache already is read from it.
 *
 * Writes go through the page cache with write-behind instead (write-behind.ts): this VM's disk took
 * direct writes slower than the kernel's own writeback of the same bytes.
 */

/** Alignment of memory, file offset and length for O_DIRECT: a page covers every device's block size. */
export const DIRECT_ALIGNMENT = 4096;

interface IoAddon {
  alignedBuffer(size: number): Buffer;
  residentBytes(fd: number, size: number): Promise<number>;
}

let addon: IoAddon | undefined;
const alignedMemory = new WeakSet<ArrayBufferLike>();

function io(): IoAddon {
  return (addon ??= loadNativeAddon<IoAddon>('lamina_io'));
}

/**
 * A Buffer whose memory direct I/O accepts (page-aligned); `size` a multiple of DIRECT_ALIGNMENT.
 * From 2 MiB on it is backed by huge pages where the kernel has them, which makes a direct read's
 * requests four times as large on this VM's disk (native/io/aligned-buffer.cc).
 */
export function allocDirectBuffer(size: number): Buffer {
  const buffer = io().alignedBuffer(size);
  alignedMemory.add(buffer.buffer);
  return buffer;
}

/** Whether reading into `data` at `fileOffset` may bypass the page cache. */
export function canUseDirect(data: Buffer, fileOffset: number): boolean {
  return (
    alignedMemory.has(data.buffer) &&
    data.byteOffset % DIRECT_ALIGNMENT === 0 &&
    data.length % DIRECT_ALIGNMENT === 0 &&
    fileOffset % DIRECT_ALIGNMENT === 0
  );
}

/**
 * A second, O_DIRECT handle on a file already open, for reading, or undefined where the file
 * system refuses direct I/O (tmpfs on older kernels, some network file systems): then every read
 * takes the ordinary path.
 */
export async function openDirect(file: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(file, constants.O_RDONLY | constants.O_DIRECT);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
    throw err;
  }
}

/**
 * Bytes of the first `size` bytes of the file open as `fd` that the page cache holds (cachestat, or
 * mincore on kernels without it: native/io/page-cache.cc), or undefined where neither can tell:
 * then reads go direct, as for a file nobody read lately.
 */
export async function residentBytes(fd: number, size: number): Promise<number | undefined> {
  return io()
    .residentBytes(fd, size)
    .catch(() => undefined);
}
