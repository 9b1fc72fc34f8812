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
 */
const MAP_SLACK = 1024 * 1024;

export async function fileDataRanges(file: InputFile, dataLength: number): Promise<Extent[]> {
  const end = roundUp(dataLength, SECTOR_SIZE);
  if (end === 0 || file.storedBytes === 0) return [];
  const whole = [{ offset: 0, length: end }];
  const listing = await runFilefrag(file.path);
  if (listing === undefined) return whole;
  const ranges = parseFilefrag(listing, end);
  // Missing a range would silently drop guest data, so cross-check against the blocks the file
  // really holds (slack for extent-tree blocks and a fixed VHD's footer); doubt means read it all.
  const covered = ranges?.reduce((sum, r) => sum + r.length, 0) ?? 0;
  if (!ranges || covered + MAP_SLACK < file.storedBytes) return whole;
  return ranges;
}

function runFilefrag(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('filefrag', ['-e', path], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
}

/** Parses `filefrag -e` output into sorted, merged byte ranges clipped to `end`; undefined if it looks wrong. */
export function parseFilefrag(listing: string, end: number): Extent[] | undefined {
  const unit = /blocks of (\d+) bytes/.exec(listing);
  if (!unit) return undefined;
  const blockBytes = Number(unit[1]);
  const ranges: Extent[] = [];
  for (const line of listing.split('\n')) {
    const match = /^\s*\d+:\s+(\d+)\.\.\s*(\d+):.*?:\s*([\w,]*)\s*$/.exec(line);
    if (!match) continue;
    if (match[3].split(',').includes('unwritten')) continue;
    const offset = Number(match[1]) * blockBytes;
    if (offset >= end) continue;
    const length = Math.min(end, (Number(match[2]) + 1) * blockBytes) - offset;
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length >= offset)
      last.length = Math.max(last.length, offset + length - last.offset);
    else ranges.push({ offset, length });
  }
  return ranges;
}
