import { loadNativeAddon } from '../../lib/native-addon';
import { DIRECT_ALIGNMENT } from '../direct-io';
import { InputFile } from '../file-io';
import { Extent, roundUp, SECTOR_SIZE } from '../types';

/**
 * Which parts of a raw file hold data, so a copy never reads its holes: lseek(SEEK_DATA) and
 * lseek(SEEK_HOLE) walked over the file, in native code (native/io/data-ranges.cc). The kernel
 * answers from the file system's map and the page cache together: data written a moment ago and not
 * written back yet counts (delayed allocation), preallocated space nobody wrote does not. Where a file
 * system keeps no map, the kernel reports the whole file as data, and where the call fails the whole
 * file is one range: the writers' zero detection then finds the holes by reading them.
 *
 * It replaced `filefrag -s -e` (FIEMAP, run as a process): starting it, and Node's child_process
 * module, took 0.05-0.15 s before every conversion of a raw disk on a busy machine, FIEMAP needed the
 * file flushed first (on ext4 a map taken right after a write sometimes listed nothing), and the
 * listing had to be checked against the blocks stat reports.
 */
export async function fileDataRanges(file: InputFile, dataLength: number): Promise<Extent[]> {
  const end = roundUp(dataLength, SECTOR_SIZE);
  if (end === 0) return [];
  addon ??= loadNativeAddon<DataRangesAddon>('lamina_io');
  const flat = await addon.dataRanges(file.fd, end).catch(() => undefined);
  if (!flat) return [{ offset: 0, length: end }];
  const ranges: Extent[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    // Whole pages, as the file system stores them: a range ending at the end of a file whose length is
    // no multiple of the page (or sector) still covers the guest's last sector, which reads zero-padded.
    const offset = flat[i] - (flat[i] % DIRECT_ALIGNMENT);
    const stop = Math.min(end, roundUp(flat[i] + flat[i + 1], DIRECT_ALIGNMENT));
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length >= offset) last.length = Math.max(last.length, stop - last.offset);
    else ranges.push({ offset, length: stop - offset });
  }
  return ranges;
}

interface DataRangesAddon {
  /** [offset, length, ...] of the data in the file's first `end` bytes. */
  dataRanges(fd: number, end: number): Promise<number[]>;
}

let addon: DataRangesAddon | undefined;
