/** Master Boot Record: the BIOS partition table in sector 0 (four primary entries, 0x55AA signature). */
import { DiskIdentity } from '../identity';
import { Partition, PartitionSpec, placePartitions, TableOptions } from './types';

export const MBR_SIZE = 512;
const ENTRIES_AT = 446;
export const GPT_PROTECTIVE_TYPE = 0xee;
const TYPE_BYTE: Record<PartitionSpec['kind'], number> = { 'basic-data': 0x07, esp: 0xef, msr: 0x07 };
const TYPE_NAMES: Record<number, string> = {
  0x07: 'NTFS/exFAT',
  0x0b: 'FAT32',
  0x0c: 'FAT32 (LBA)',
  0x27: 'Windows recovery',
  0x83: 'Linux',
  0xee: 'GPT protective',
  0xef: 'EFI system',
};

export function hasMbrSignature(sector0: Buffer): boolean {
  return sector0.length >= MBR_SIZE && sector0.readUInt16LE(510) === 0xaa55;
}

/** The primary entries in use; extended-partition chains are reported as one entry, not followed. */
export function parseMbr(sector0: Buffer, sectorSize: number): Partition[] {
  const partitions: Partition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = ENTRIES_AT + i * 16;
    const type = sector0[at + 4];
    const sectors = sector0.readUInt32LE(at + 12);
    if (type === 0 || sectors === 0) continue;
    partitions.push({
      number: i + 1,
      type: type.toString(16).padStart(2, '0'),
      typeName: TYPE_NAMES[type] ?? 'unknown',
      start: sector0.readUInt32LE(at + 8) * sectorSize,
      size: sectors * sectorSize,
      bootable: sector0[at] === 0x80,
    });
  }
  return partitions;
}

/** CHS address of a sector with the 255-head, 63-sector translation; past cylinder 1023 the field saturates, as BIOSes expect. */
function chs(lba: number): Buffer {
  const cylinder = Math.floor(lba / (255 * 63));
  if (cylinder > 1023) return Buffer.from([0xfe, 0xff, 0xff]);
  const head = Math.floor(lba / 63) % 255;
  const sector = (lba % 63) + 1;
  return Buffer.from([head, ((cylinder >> 2) & 0xc0) | sector, cylinder & 0xff]);
}

export function mbrEntry(type: number, startSector: number, sectors: number, bootable = false): Buffer {
  const e = Buffer.alloc(16);
  e[0] = bootable ? 0x80 : 0;
  chs(startSector).copy(e, 1);
  e[4] = type;
  chs(startSector + sectors - 1).copy(e, 5);
  e.writeUInt32LE(startSector, 8);
  e.writeUInt32LE(sectors, 12);
  return e;
}

/** Sector 0 with `entries`; `diskSignature` (4 bytes) is how Windows tells disks apart. */
export function buildMbrSector(entries: Buffer[], diskSignature: Buffer): Buffer {
  const mbr = Buffer.alloc(MBR_SIZE);
  diskSignature.copy(mbr, 440);
  entries.forEach((entry, i) => entry.copy(mbr, ENTRIES_AT + i * 16));
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

/** A BIOS disk layout: sector 0 holding up to four primary partitions, 1 MiB aligned. */
export function buildMbr(
  diskSize: number,
  specs: PartitionSpec[],
  { sectorSize = 512, identity }: TableOptions = {},
): { sector0: Buffer; partitions: Partition[] } {
  if (specs.length > 4) throw new RangeError('MBR holds at most four primary partitions');
  const limit = Math.min(diskSize, 0xffffffff * sectorSize);
  const placed = placePartitions(specs, sectorSize, limit);
  const partitions = placed.map(({ spec, start, size }, i) => ({
    number: i + 1,
    type: TYPE_BYTE[spec.kind].toString(16).padStart(2, '0'),
    typeName: TYPE_NAMES[TYPE_BYTE[spec.kind]],
    start,
    size,
    bootable: spec.bootable ?? false,
  }));
  const entries = partitions.map((p) =>
    mbrEntry(parseInt(p.type, 16), p.start / sectorSize, p.size / sectorSize, p.bootable),
  );
  return {
    sector0: buildMbrSector(entries, DiskIdentity.of(identity).bytes('mbr disk signature', 4)),
    partitions,
  };
}
