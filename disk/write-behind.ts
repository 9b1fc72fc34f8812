import { loadNativeAddon } from '../lib/native-addon';
import { mergeRanges } from './file-space';
import type { Extent } from './types';

/**
 * Write-behind for an output file: its data goes through the page cache, and the kernel is told
 * to write each 16 MiB of it back as soon as it is in (sync_file_range WRITE), then, a few batches
 * later, the batch is waited for and its pages dropped (POSIX_FADV_DONTNEED;
 * native/io/page-cache.cc). This is how a streaming writer gets the page cache's merging and
 * background writeback without its costs:
 *
 * - the writes go out while the copy goes on, not in one flush at the end (qemu-img's buffered
 *   writes leave 1-1.5 s of `sync` for 2 GiB on this VM);
 * - at most LAG bytes of the output are dirty or cached at a time, so the copy neither fills the
 *   cache (evicting the appliance's cached layers) nor stalls in the kernel's dirty throttling, and
 *   the pages it writes through are freed and used again at once instead of fresh ones (each fresh
 *   page is a fault into the host on a VM whose unused memory the host took back);
 * - the copy's pace is set by the disk: a write waits for the writeback of the piece LAG behind it.
 *
 * It replaced O_DIRECT writes, which this VM's disk took slower than the kernel's writeback of the
 * same bytes: a C copy of 2 GiB in 16 MiB pieces (reads direct, fsync included, caches dropped,
 * load average 4-8) took 3.1-6.7 s (median 4.6, 11 runs) with direct writes and 2.6-4.1 s (3.4,
 * 18 runs) with write-behind; Lamina converting 2 GiB in 32 MiB pieces to VHD, alternating, 4.2-5.8 s
 * against 3.8-5.7 s. It costs more CPU (the copy into the cache: about 0.5 s of system time for
 * 2 GiB). Where the calls are refused (ENOSYS, EINVAL) the writes stay buffered and the final
 * fsync writes them; tmpfs accepts them and keeps its pages.
 */

interface WriteBehindAddon {
  writeBehind(fd: number, offset: number, length: number, drop: boolean): Promise<void>;
}

let addon: WriteBehindAddon | undefined;

/**
 * Writes are handed to writeback in batches of at least this many bytes: a conversion of a volume
 * of real files writes pieces of 1.3 MiB (the median; 466 for 1.8 GiB), and one call per piece
 * held up each write for a round trip through the thread pool.
 */
const BATCH = 16 * 1024 * 1024;

/**
 * Bytes written but not yet waited for and dropped: two of the copy's 16 MiB chunks in flight and
 * two more whose writeback is running. Less stalls each write on the one before; more only holds
 * more cache.
 */
const LAG = 64 * 1024 * 1024;

/** Errors that say the file system or kernel does not do this: the writes go on without it. */
const NOT_SUPPORTED = new Set(['ENOSYS', 'EINVAL', 'ESPIPE', 'EOPNOTSUPP']);

/**
 * `ranges` sorted and joined where less than BATCH apart: one call covers them, and the kernel
 * skips what is clean or a hole in between.
 */
function spans(ranges: Extent[]): Extent[] {
  const joined: Extent[] = [];
  for (const range of mergeRanges(ranges)) {
    const last = joined[joined.length - 1];
    if (last && range.offset - (last.offset + last.length) < BATCH)
      last.length = range.offset + range.length - last.offset;
    else joined.push(range);
  }
  return joined;
}

export class WriteBehind {
  /** Ranges written since the last writeback was started. */
  private fresh: Extent[] = [];
  private freshBytes = 0;
  /** Ranges whose writeback was started, oldest first, not yet waited for. */
  private readonly pending: Extent[] = [];
  private pendingBytes = 0;
  private disabled = false;

  constructor(private readonly fd: number) {}

  /**
   * After `length` bytes at `offset` went into the page cache. Once BATCH bytes were written since
   * the last time, starts their writeback (the output's blocks are laid out one after the other, so
   * that is one call for several writes), then waits for the oldest ranges' writeback and drops
   * them until at most LAG bytes are left behind.
   */
  async wrote(offset: number, length: number): Promise<void> {
    if (this.disabled || length === 0) return;
    this.fresh.push({ offset, length });
    this.freshBytes += length;
    if (this.freshBytes < BATCH) return;
    const ranges = spans(this.fresh);
    this.fresh = [];
    this.freshBytes = 0;
    for (const range of ranges) {
      if (!(await this.call(range.offset, range.length, false))) return;
      this.pending.push(range);
      this.pendingBytes += range.length;
    }
    while (this.pendingBytes > LAG) {
      const oldest = this.pending.shift()!;
      this.pendingBytes -= oldest.length;
      await this.call(oldest.offset, oldest.length, true);
    }
  }

  /**
   * Waits for every range written so far and drops it (before the file is synced: the fsync then
   * has little left to write, and nothing of the output stays cached).
   */
  async drain(): Promise<void> {
    const ranges = spans([...this.pending.splice(0), ...this.fresh.splice(0)]);
    this.pendingBytes = 0;
    this.freshBytes = 0;
    for (const range of ranges) await this.call(range.offset, range.length, true);
  }

  /** One writeBehind call; false, and every later call skipped, where it is not supported. */
  private async call(offset: number, length: number, drop: boolean): Promise<boolean> {
    if (this.disabled) return false;
    addon ??= loadNativeAddon<WriteBehindAddon>('lamina_io');
    try {
      await addon.writeBehind(this.fd, offset, length, drop);
      return true;
    } catch (err) {
      if (!NOT_SUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      this.disabled = true;
      return false;
    }
  }
}
