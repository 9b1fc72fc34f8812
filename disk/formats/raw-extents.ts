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
  extentCount: number;
}

/** True when the listed extents cover what stat says the file stores, give or take its own metadata blocks. */
function accountsFor(map: FileMap, storedBytes: number): boolean {
  const metadataSlack = 8192 + 4096 * Math.ceil(map.extentCount / 340); // xattr block, extent-tree blocks
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
  let extentCount = 0;
  for (const line of listing.split('\n')) {
    const match = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):.*?:\s*([\w,]*)\s*$/.exec(line);
    if (!match) continue;
    const offset = Number(match[1]) * blockBytes;
    const extentEnd = (Number(match[2]) + 1) * blockBytes;
    listedBytes += extentEnd - offset;
    extentCount++;
    if (match[3].split(',').includes('unwritten') || offset >= end) continue;
    const length = Math.min(end, extentEnd) - offset;
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length >= offset)
      last.length = Math.max(last.length, offset + length - last.offset);
    else ranges.push({ offset, length });
  }
  return { ranges, listedBytes, extentCount };
}
