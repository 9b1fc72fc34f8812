import { loadNativeAddon } from '../lib/native-addon';
import type { Extent } from './types';

/**
 * File space allocated ahead of the writes meant for it (native/io/file-space.cc), in one fallocate
 * call before the writes start, for all the writes that can be predicted; what no write landed in
 * is punched out again at the end, so the file stays as sparse as its writes left it.
 *
 * It was made for direct writes: ext4 runs a direct write that extends the file or lands on
 * unallocated blocks under the inode's exclusive lock, for as long as the device takes, so a
 * conversion's writes went out one at a time; over allocated space (fallocate's unwritten extents,
 * which read as zeros) they take the shared lock and reach the disk together. The writes are
 * buffered now, written back behind the writer (write-behind.ts), and the reservation still pays
 * a little: writeback finds the blocks allocated instead of allocating them range by range. 2 GiB in
 * 32 MiB pieces to VHD, cold: 3.57-4.16 s (median 3.92) with it, 3.62-4.27 s (4.08) without, and
 * less system time, 4 alternating pairs at load average 8-10. fallocate waits for any direct I/O
 * in flight on the file, which is why it is one call before the writes.
 */

interface FileSpaceAddon {
  reserveSpace(fd: number, ranges: number[]): Promise<void>;
  punchHoles(fd: number, ranges: number[]): Promise<void>;
}

let addon: FileSpaceAddon | undefined;

/** Errors that say this file system (or this kernel) does not allocate ahead: the writes go on without it. */
const NOT_SUPPORTED = new Set(['EOPNOTSUPP', 'ENOSYS', 'EINVAL', 'ENODEV', 'EPERM']);
/** Errors that say the space is not there to reserve: the writes find out for themselves, as before. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function flatten(ranges: Extent[]): number[] {
  return ranges.flatMap((r) => [r.offset, r.length]);
}

/** Whether `err` says the space could not be had, rather than that something is wrong. */
function refused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return NOT_SUPPORTED.has(code) || NO_ROOM.has(code);
}

/**
 * Allocates `ranges` of the file open as `fd`, growing its size to the end of the last one. Where
 * the file system cannot, or has not the room, it stops there and the writes take the ordinary
 * path (part of the ranges may be allocated: punchHoles gives back what no write filled).
 */
export async function reserveSpace(fd: number, ranges: Extent[]): Promise<void> {
  if (ranges.length === 0) return;
  addon ??= loadNativeAddon<FileSpaceAddon>('lamina_io');
  await addon.reserveSpace(fd, flatten(ranges)).catch((err: unknown) => {
    if (!refused(err)) throw err;
  });
}

/** Deallocates `ranges` (they read as zeros again); the file's size stays. Nothing where unsupported. */
export async function punchHoles(fd: number, ranges: Extent[]): Promise<void> {
  if (ranges.length === 0) return;
  addon ??= loadNativeAddon<FileSpaceAddon>('lamina_io');
  await addon.punchHoles(fd, flatten(ranges)).catch((err: unknown) => {
    if (!NOT_SUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  });
}

/** Sorted, with overlapping and touching ranges joined. */
export function mergeRanges(ranges: Extent[]): Extent[] {
  const merged: Extent[] = [];
  for (const range of [...ranges].sort((a, b) => a.offset - b.offset)) {
    const last = merged[merged.length - 1];
    if (last && range.offset <= last.offset + last.length)
      last.length = Math.max(last.length, range.offset + range.length - last.offset);
    else merged.push({ ...range });
  }
  return merged;
}

/** The parts of `ranges` that none of `covered` overlaps; both merged (mergeRanges). */
export function subtractRanges(ranges: Extent[], covered: Extent[]): Extent[] {
  const rest: Extent[] = [];
  let c = 0;
  for (const range of ranges) {
    let at = range.offset;
    const end = range.offset + range.length;
    while (c < covered.length && covered[c].offset + covered[c].length <= at) c++;
    for (let k = c; k < covered.length && covered[k].offset < end; k++) {
      if (covered[k].offset > at) rest.push({ offset: at, length: covered[k].offset - at });
      at = Math.max(at, covered[k].offset + covered[k].length);
    }
    if (at < end) rest.push({ offset: at, length: end - at });
  }
  return rest;
}
