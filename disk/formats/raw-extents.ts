import { execFile } from 'node:child_process';
import { InputFile } from '../file-io';
import { Extent, roundUp, SECTOR_SIZE } from '../types';

/**
 * Which parts of a raw file hold data, so a copy never reads its holes.
 *
 * Node has no lseek(SEEK_DATA) and Lamina carries no native addon for one call, so this asks the
 * kernel's FIEMAP through e2fsprogs' `filefrag -e` (present on every Debian-based system; it
 * reports delayed-allocation extents too, and marks preallocated-but-unwritten ones, which read
 * as zeros). Where that is unavailable (tmpfs, no e2fsprogs, a block device) the whole file is
 * one range and the writers' zero detection finds the holes by reading them.
 *
 * FIEMAP on a file still being written back can briefly report no extents at all, and stat no
 * blocks (seen on ext4 in about one call in ten right after writing). Missing a range would
 * silently lose guest data, so the map is taken with `filefrag -s`, which flushes the file's dirty
 * pages first (free for a disk that is not being written), and must still account for every
 * block the file stores; otherwise the whole file is read.
 */
export async function fileDataRanges(file: InputFile, dataLength: number): Promise<Extent[]> {
  const end = roundUp(dataLength, SECTOR_SIZE);
  if (end === 0) return [];
  const listing = await runFilefrag(file.path);
  const map = listing === undefined ? undefined : parseFilefrag(listing, end);
  if (map && accountsFor(map, file.storedBytes)) return map.ranges;
  return [{ offset: 0, length: end }];
}

export interface FileMap {
  /** Data ranges clipped to the guest size, sorted and merged; unwritten extents left out. */
  ranges: Extent[];
  /** Bytes of every listed extent, unwritten ones and any past the guest size included. */
  listedBytes: number;
}

/**
 * True when the listed extents cover what stat says the file stores, give or take the file's own
 * metadata: an xattr block and the extent tree. The tree cannot be sized from the listing, because
 * FIEMAP merges neighbouring extents (a 1.7 GiB partition image listing 925 extents had 8 tree
 * blocks, not the 3 that 925 full leaves need), so the slack is proportional instead: one 4 KiB
 * tree block per 1 MiB stored is far more than any tree takes, and a map listing nothing (the
 * failure this guards against) is still caught. Without enough slack a good map is thrown away
 * and the whole file is read, holes included: 60 GiB for a compose's 6 GiB Windows partition.
 */
function accountsFor(map: FileMap, storedBytes: number): boolean {
  const metadataSlack = 8192 + Math.ceil(storedBytes / 256);
  return map.listedBytes + metadataSlack >= storedBytes;
}

function runFilefrag(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'filefrag',
      ['-s', '-e', path],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => resolve(err ? undefined : stdout),
    );
  });
}

/** Parses `filefrag -e` output; undefined if it does not look like one. */
export function parseFilefrag(listing: string, end: number): FileMap | undefined {
  const unit = /blocks of (\d+) bytes/.exec(listing);
  if (!unit) return undefined;
  const blockBytes = Number(unit[1]);
  const ranges: Extent[] = [];
  let listedBytes = 0;
  for (const line of listing.split('\n')) {
    const match = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):.*?:\s*([\w,]*)\s*$/.exec(line);
    if (!match) continue;
    const offset = Number(match[1]) * blockBytes;
    const extentEnd = (Number(match[2]) + 1) * blockBytes;
    listedBytes += extentEnd - offset;
    if (match[3].split(',').includes('unwritten') || offset >= end) continue;
    const length = Math.min(end, extentEnd) - offset;
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length >= offset)
      last.length = Math.max(last.length, offset + length - last.offset);
    else ranges.push({ offset, length });
  }
  return { ranges, listedBytes };
}
