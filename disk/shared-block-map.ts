import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { BlockTable } from './block-table';

/**
 * The block map of a block-mapped disk file being written, as a file another process can take
 * over and hand back: the compositor's NTFS core (native/ntfs/mapped-device.c, which documents
 * the same layout) writes the image's Windows volume straight into the output container with it.
 *
 * Both sides allocate the same way: a block's first non-zero write puts its data at the first
 * 4 KiB boundary at least `prefix` bytes past `nextFree`; a block not in the map reads as zeros. Little-endian u64 fields:
 *
 *   0 magic "LMNTMAP1"   8 block size   16 prefix   24 next free   32 window offset
 *   40 window size       48 block count 56 path length, then the disk file's path,
 *   zero-padded to 8 bytes, then one u64 per block: the file offset of its data, 0 = none.
 */

const MAGIC = 'LMNTMAP1';
const HEADER_BYTES = 64;

/** The guest byte range the other process sees as its whole device (a partition). */
export interface DiskWindow {
  offset: number;
  size: number;
}

export interface SharedBlockMap {
  diskFile: string;
  blockSize: number;
  prefix: number;
  nextFree: number;
  table: BlockTable;
  window: DiskWindow;
}

function padded(n: number): number {
  return Math.ceil(n / 8) * 8;
}

export async function writeSharedBlockMap(file: string, map: SharedBlockMap): Promise<void> {
  const blockCount = map.table.blockCount;
  if (map.window.offset < 0 || map.window.offset + map.window.size > blockCount * map.blockSize)
    throw new RangeError(`window ${map.window.offset}+${map.window.size} lies outside the disk`);
  // Absolute: the other process may run elsewhere than in this one's working directory.
  const diskFile = Buffer.from(path.resolve(map.diskFile));
  const data = Buffer.alloc(HEADER_BYTES + padded(diskFile.length) + blockCount * 8);
  data.write(MAGIC, 0, 'latin1');
  [
    map.blockSize,
    map.prefix,
    map.nextFree,
    map.window.offset,
    map.window.size,
    blockCount,
    diskFile.length,
  ].forEach((value, i) => data.writeBigUInt64LE(BigInt(value), 8 + i * 8));
  diskFile.copy(data, HEADER_BYTES);
  const entriesAt = HEADER_BYTES + padded(diskFile.length);
  for (const [block, fileOffset] of map.table.entries())
    data.writeBigUInt64LE(BigInt(fileOffset), entriesAt + block * 8);
  await fs.writeFile(file, data);
}

/**
 * Reads a map back, checking it still describes a disk laid out as `layout` with `blockCount`
 * blocks: the allocated blocks in ascending order and where the next one would go.
 */
export async function readSharedBlockMap(
  file: string,
  layout: { blockSize: number; prefix: number },
  blockCount: number,
): Promise<{ nextFree: number; blocks: [block: number, fileOffset: number][] }> {
  const data = await fs.readFile(file);
  const field = (i: number) => Number(data.readBigUInt64LE(8 + i * 8));
  if (data.length < HEADER_BYTES || data.toString('latin1', 0, 8) !== MAGIC)
    throw new Error(`${file}: not a Lamina block map`);
  if (field(0) !== layout.blockSize || field(1) !== layout.prefix || field(5) !== blockCount)
    throw new Error(`${file}: block map of another disk layout`);
  const entriesAt = HEADER_BYTES + padded(field(6));
  if (data.length !== entriesAt + blockCount * 8) throw new Error(`${file}: block map truncated`);
  const blocks: [number, number][] = [];
  for (let block = 0; block < blockCount; block++) {
    const fileOffset = Number(data.readBigUInt64LE(entriesAt + block * 8));
    if (fileOffset !== 0) blocks.push([block, fileOffset]);
  }
  return { nextFree: field(2), blocks };
}

/**
 * What a mapped volume shows where its disk holds no block (native/ntfs/backing.h): the volume
 * `volume` (named as the NTFS core takes it), in the clusters of `clusterSize` bytes that the bitmap
 * file marks in use (one bit per cluster, least significant first), zeros elsewhere.
 */
export interface MapBacking {
  volume: string;
  clusterSize: number;
  bitmapFile: string;
}

/** Writes MAPFILE.backing, which the NTFS core reads when it opens the map. */
export async function writeMapBacking(mapFile: string, backing: MapBacking): Promise<void> {
  await fs.writeFile(
    `${mapFile}.backing`,
    ['LMNTBAK1', String(backing.clusterSize), backing.bitmapFile, backing.volume, ''].join('\n'),
  );
}

/**
 * A bitmap marking every byte of a `volumeSize`-byte volume in use (a child disk's parent shows
 * through whole), in the largest clusters up to 1 MiB that divide the volume; answers their size.
 */
export async function writeWholeVolumeBitmap(file: string, volumeSize: number): Promise<number> {
  let clusterSize = 1024 * 1024;
  while (clusterSize > 512 && volumeSize % clusterSize !== 0) clusterSize /= 2;
  await fs.writeFile(file, Buffer.alloc(Math.ceil(Math.ceil(volumeSize / clusterSize) / 8), 0xff));
  return clusterSize;
}
