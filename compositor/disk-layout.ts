import { buildGpt, buildMbr, type Partition, type PartitionSpec } from '../disk';
import type { DiskFirmware } from '../domain/firmware';

/**
 * Where partitions go on a Lamina disk (ARCHITECTURE.md §5): BIOS → MBR with one active NTFS
 * partition at 1 MiB; UEFI → GPT with ESP (FAT32, 260 MiB), MSR (16 MiB) and the Windows NTFS
 * partition filling the rest. disk/partition places them (1 MiB aligned) and builds the tables.
 */

export type PartitionRole = 'esp' | 'msr' | 'windows';

export interface PlannedPartition {
  role: PartitionRole;
  /** Bytes from the start of the disk. */
  offset: number;
  size: number;
}

export interface DiskLayout {
  firmware: DiskFirmware;
  size: number;
  partitions: PlannedPartition[];
  /** The partition table's bytes and where they go (MBR; or protective MBR and both GPTs). */
  table: { offset: number; data: Buffer }[];
}

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const ESP_SIZE = 260 * MiB;
const MSR_SIZE = 16 * MiB;

const ROLE_OF: Record<PartitionSpec['kind'], PartitionRole> = {
  esp: 'esp',
  msr: 'msr',
  'basic-data': 'windows',
};

function planned(specs: PartitionSpec[], partitions: Partition[]): PlannedPartition[] {
  return partitions.map((p, i) => ({ role: ROLE_OF[specs[i].kind], offset: p.start, size: p.size }));
}

/**
 * Plans a disk of `size` bytes. `identity` seeds the disk and partition ids (disk/ derives them
 * from it), so the same inputs give the same table; without it they are random.
 */
export function planDisk(firmware: DiskFirmware, size: number, identity?: string): DiskLayout {
  if (size % MiB !== 0) throw new Error(`disk size ${size} is not a whole number of MiB`);
  if (firmware === 'bios') {
    const specs: PartitionSpec[] = [{ kind: 'basic-data', bootable: true }];
    const mbr = buildMbr(size, specs, { identity });
    return {
      firmware,
      size,
      partitions: planned(specs, mbr.partitions),
      table: [{ offset: 0, data: mbr.sector0 }],
    };
  }
  const specs: PartitionSpec[] = [
    { kind: 'esp', size: ESP_SIZE },
    { kind: 'msr', size: MSR_SIZE },
    { kind: 'basic-data' },
  ];
  const gpt = buildGpt(size, specs, { identity });
  return { firmware, size, partitions: planned(specs, gpt.partitions), table: gpt.segments };
}

export function windowsPartition(layout: DiskLayout): PlannedPartition {
  const windows = layout.partitions.find((p) => p.role === 'windows');
  if (!windows) throw new Error('layout without a Windows partition');
  return windows;
}
