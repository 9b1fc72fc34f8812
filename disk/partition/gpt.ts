/**
 * GUID Partition Table (UEFI specification, chapter 5): protective MBR, primary header at LBA 1
 * with 128 entries from LBA 2, and the backup entries and header at the end of the disk. Both
 * headers and the entry array carry CRC-32s.
 */
import { crc32 } from '../checksum';
import { DiskFormatError } from '../errors';
import { guidFromBytes, guidToBytes } from '../guid';
import { DiskIdentity } from '../identity';
import { VirtualDisk } from '../types';
import { buildMbrSector, GPT_PROTECTIVE_TYPE, mbrEntry } from './mbr';
import { Partition, PartitionSpec, placePartitions, TableOptions } from './types';

const SIGNATURE = 'EFI PART';
const REVISION = 0x00010000;
const HEADER_SIZE = 92;
const ENTRY_COUNT = 128;
const ENTRY_SIZE = 128;
const MAX_ENTRIES_BYTES = 1024 * 1024;

export const PARTITION_TYPE = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  msr: 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE',
  'basic-data': 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
} as const;
const TYPE_NAMES: Record<string, string> = {
  [PARTITION_TYPE.esp]: 'EFI system',
  [PARTITION_TYPE.msr]: 'Microsoft reserved',
  [PARTITION_TYPE['basic-data']]: 'Microsoft basic data',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
};
const DEFAULT_NAMES: Record<PartitionSpec['kind'], string> = {
  esp: 'EFI system partition',
  msr: 'Microsoft reserved partition',
  'basic-data': 'Basic data partition',
};

/** A byte range to write onto the disk. */
export interface TableSegment {
  offset: number;
  data: Buffer;
}

function entriesSectors(sectorSize: number): number {
  return (ENTRY_COUNT * ENTRY_SIZE) / sectorSize;
}

function buildHeader(
  sectorSize: number,
  myLba: number,
  alternateLba: number,
  entriesLba: number,
  lastLba: number,
  diskGuid: Buffer,
  entries: Buffer,
): Buffer {
  const h = Buffer.alloc(sectorSize);
  h.write(SIGNATURE, 0, 'latin1');
  h.writeUInt32LE(REVISION, 8);
  h.writeUInt32LE(HEADER_SIZE, 12);
  h.writeBigUInt64LE(BigInt(myLba), 24);
  h.writeBigUInt64LE(BigInt(alternateLba), 32);
  h.writeBigUInt64LE(BigInt(2 + entriesSectors(sectorSize)), 40); // first usable
  h.writeBigUInt64LE(BigInt(lastLba - 1 - entriesSectors(sectorSize)), 48); // last usable
  diskGuid.copy(h, 56);
  h.writeBigUInt64LE(BigInt(entriesLba), 72);
  h.writeUInt32LE(ENTRY_COUNT, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(crc32(entries), 88);
  h.writeUInt32LE(crc32(h.subarray(0, HEADER_SIZE)), 16);
  return h;
}

/**
 * A UEFI disk layout: the protective MBR, primary GPT at the start and backup GPT at the end,
 * returned as segments for the caller to write through a DiskWriter.
 */
export function buildGpt(
  diskSize: number,
  specs: PartitionSpec[],
  { sectorSize = 512, identity: seed }: TableOptions = {},
): { segments: TableSegment[]; partitions: Partition[] } {
  const identity = DiskIdentity.of(seed);
  const lastLba = Math.floor(diskSize / sectorSize) - 1;
  const tableSectors = entriesSectors(sectorSize);
  if (lastLba < 2 * (1 + tableSectors) + 1)
    throw new RangeError(`a ${diskSize}-byte disk is too small for a GPT`);
  const firstUsable = (2 + tableSectors) * sectorSize;
  const endUsable = (lastLba - tableSectors) * sectorSize;
  const placed = placePartitions(specs, firstUsable, endUsable);
  if (placed.length > ENTRY_COUNT) throw new RangeError(`GPT holds at most ${ENTRY_COUNT} partitions`);
  const entries = Buffer.alloc(ENTRY_COUNT * ENTRY_SIZE);
  const partitions = placed.map(({ spec, start, size }, i) => {
    const at = i * ENTRY_SIZE;
    guidToBytes(PARTITION_TYPE[spec.kind]).copy(entries, at);
    identity.guid(`gpt partition ${i + 1} guid`).copy(entries, at + 16);
    entries.writeBigUInt64LE(BigInt(start / sectorSize), at + 32);
    entries.writeBigUInt64LE(BigInt((start + size) / sectorSize - 1), at + 40);
    const name = spec.name ?? DEFAULT_NAMES[spec.kind];
    entries.write(name.slice(0, 36), at + 56, 'utf16le');
    return {
      number: i + 1,
      type: PARTITION_TYPE[spec.kind],
      typeName: TYPE_NAMES[PARTITION_TYPE[spec.kind]],
      start,
      size,
      name,
    };
  });
  const diskGuid = identity.guid('gpt disk guid');
  const backupEntriesLba = lastLba - tableSectors;
  const protectiveSectors = Math.min(lastLba, 0xffffffff);
  const segments: TableSegment[] = [
    {
      offset: 0,
      data: buildMbrSector([mbrEntry(GPT_PROTECTIVE_TYPE, 1, protectiveSectors)], Buffer.alloc(4)),
    },
    { offset: sectorSize, data: buildHeader(sectorSize, 1, lastLba, 2, lastLba, diskGuid, entries) },
    { offset: 2 * sectorSize, data: entries },
    { offset: backupEntriesLba * sectorSize, data: entries },
    {
      offset: lastLba * sectorSize,
      data: buildHeader(sectorSize, lastLba, 1, backupEntriesLba, lastLba, diskGuid, entries),
    },
  ];
  if (sectorSize > 512) segments[0].data = Buffer.concat([segments[0].data, Buffer.alloc(sectorSize - 512)]);
  return { segments, partitions };
}

/** Reads the primary GPT, or the backup when the primary is damaged; errors name the damaged structure. */
export async function readGpt(disk: VirtualDisk): Promise<Partition[]> {
  const sectorSize = disk.sectorSize;
  const lastLba = Math.floor(disk.virtualSize / sectorSize) - 1;
  const problems: DiskFormatError[] = [];
  for (const headerLba of [1, lastLba]) {
    try {
      return await readGptAt(disk, headerLba, lastLba);
    } catch (err) {
      if (!(err instanceof DiskFormatError)) throw err;
      problems.push(err);
    }
  }
  throw problems[0];
}

async function readGptAt(disk: VirtualDisk, headerLba: number, lastLba: number): Promise<Partition[]> {
  const sectorSize = disk.sectorSize;
  const at = headerLba * sectorSize;
  const fail = (structure: string, offset: number, detail: string) =>
    new DiskFormatError(disk.path, structure, offset, detail);
  if (headerLba < 1 || at + sectorSize > disk.virtualSize)
    throw fail('GPT header', at, 'lies outside the disk');
  const h = Buffer.alloc(sectorSize);
  await disk.read(h, at);
  if (h.subarray(0, 8).toString('latin1') !== SIGNATURE)
    throw fail('GPT header', at, `signature is not "${SIGNATURE}"`);
  const headerSize = h.readUInt32LE(12);
  if (headerSize < HEADER_SIZE || headerSize > sectorSize)
    throw fail('GPT header', at + 12, `header size ${headerSize} is out of range`);
  const stored = h.readUInt32LE(16);
  const copy = Buffer.from(h.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== stored)
    throw fail('GPT header', at + 16, `CRC-32 0x${stored.toString(16)} does not match`);
  const entriesLba = Number(h.readBigUInt64LE(72));
  const count = h.readUInt32LE(80);
  const entrySize = h.readUInt32LE(84);
  if (entrySize < 128 || entrySize % 8 !== 0 || count * entrySize > MAX_ENTRIES_BYTES)
    throw fail('GPT header', at + 80, `${count} entries of ${entrySize} bytes is out of range`);
  const entriesAt = entriesLba * sectorSize;
  if (entriesLba < 2 || entriesLba > lastLba || entriesAt + count * entrySize > disk.virtualSize)
    throw fail('GPT header', at + 72, `partition entries at LBA ${entriesLba} lie outside the disk`);
  const entries = Buffer.alloc(count * entrySize);
  await disk.read(entries, entriesAt);
  if (crc32(entries) !== h.readUInt32LE(88))
    throw fail('GPT partition entries', entriesAt, 'CRC-32 does not match the header');
  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = entries.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).equals(Buffer.alloc(16))) continue;
    const type = guidFromBytes(e, 0);
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    if (last < first || last > lastLba)
      throw fail(
        `GPT partition entry ${i + 1}`,
        entriesAt + i * entrySize + 32,
        `LBA range ${first}..${last} is not on the disk`,
      );
    const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    partitions.push({
      number: i + 1,
      type,
      typeName: TYPE_NAMES[type] ?? 'unknown',
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      name,
    });
  }
  return partitions;
}
