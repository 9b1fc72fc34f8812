import { constants, promises as fs } from 'node:fs';
import { loadNativeAddon } from '../lib/native-addon';

/**
 * Direct I/O for the bulk of an output disk. A converted or composed disk is written once and
 * not read back, so sending its data through the page cache only costs: the kernel copies every
 * byte into cache pages first (on a VM whose unused memory the host has reclaimed, each fresh page
 * is a fault: 2 GiB took 5 s buffered, 1.4 s direct here), then writes them back later, and the
 * cache the appliance's layers live in is evicted by data nobody rereads. Only whole, aligned
 * blocks go direct; headers, tables and the tail of a file take the ordinary path.
 *
 * Bulk reads of a disk being converted go direct for the same reason: filling fresh cache pages
 * and copying out of them costs more CPU than the disk takes to deliver the data.
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

/** A Buffer whose memory direct I/O accepts (page-aligned); `size` a multiple of DIRECT_ALIGNMENT. */
export function allocDirectBuffer(size: number): Buffer {
  const buffer = io().alignedBuffer(size);
  alignedMemory.add(buffer.buffer);
  return buffer;
}

/** Whether reading or writing `data` at `fileOffset` may bypass the page cache. */
export function canUseDirect(data: Buffer, fileOffset: number): boolean {
  return (
    alignedMemory.has(data.buffer) &&
    data.byteOffset % DIRECT_ALIGNMENT === 0 &&
    data.length % DIRECT_ALIGNMENT === 0 &&
    fileOffset % DIRECT_ALIGNMENT === 0
  );
}

/**
 * A second, O_DIRECT handle on a file already open, for writing or reading, or undefined where
 * the file system refuses direct I/O (tmpfs on older kernels, some network file systems): then
 * every read or write takes the ordinary path.
 */
export async function openDirect(file: string, mode: 'read' | 'write'): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(
      file,
      (mode === 'read' ? constants.O_RDONLY : constants.O_WRONLY) | constants.O_DIRECT,
    );
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
