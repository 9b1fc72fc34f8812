import { DiskWriter, VirtualDisk } from '../types';
import { readGpt } from './gpt';
import { GPT_PROTECTIVE_TYPE, hasMbrSignature, parseMbr } from './mbr';
import { PartitionTable } from './types';

export { buildGpt, PARTITION_TYPE } from './gpt';
export { buildMbr } from './mbr';
export * from './types';

/** The disk's partition table, or undefined when sector 0 holds no MBR signature. */
export async function readPartitionTable(disk: VirtualDisk): Promise<PartitionTable | undefined> {
  if (disk.virtualSize < disk.sectorSize) return undefined;
  const sector0 = Buffer.alloc(disk.sectorSize);
  await disk.read(sector0, 0);
  if (!hasMbrSignature(sector0)) return undefined;
  const mbr = parseMbr(sector0, disk.sectorSize);
  if (mbr.some((p) => p.type === GPT_PROTECTIVE_TYPE.toString(16)))
    return { scheme: 'gpt', partitions: await readGpt(disk) };
  return { scheme: 'mbr', partitions: mbr };
}

/** Writes table segments (from buildMbr or buildGpt) through a disk writer. */
export async function writeTableSegments(
  writer: DiskWriter,
  segments: { offset: number; data: Buffer }[],
): Promise<void> {
  for (const segment of segments) await writer.write(segment.data, segment.offset);
}
