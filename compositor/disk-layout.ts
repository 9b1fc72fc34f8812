/**
 * Where partitions go on a Lamina disk (ARCHITECTURE.md §5): BIOS → MBR with one active NTFS
 * partition at 1 MiB; UEFI → GPT with ESP (FAT32, 260 MiB), MSR (16 MiB) and the Windows NTFS
 * partition. Everything is aligned to 1 MiB, as Windows setup does.
 */

export type Firmware = 'bios' | 'uefi';
export const FIRMWARES: readonly Firmware[] = ['bios', 'uefi'];

export type PartitionRole = 'esp' | 'msr' | 'windows';

export interface PlannedPartition {
  role: PartitionRole;
  /** Bytes from the start of the disk. */
  offset: number;
  size: number;
}

export interface DiskLayout {
  firmware: Firmware;
  size: number;
  partitions: PlannedPartition[];
}

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const ESP_SIZE = 260 * MiB;
const MSR_SIZE = 16 * MiB;
/** GPT keeps a backup table in the last 33 sectors; 1 MiB keeps the end aligned as well. */
const GPT_TAIL = MiB;

export function planDisk(firmware: Firmware, size: number): DiskLayout {
  if (size % MiB !== 0) throw new Error(`disk size ${size} is not a whole number of MiB`);
  if (firmware === 'bios') {
    return { firmware, size, partitions: [{ role: 'windows', offset: MiB, size: size - MiB }] };
  }
  const windowsOffset = MiB + ESP_SIZE + MSR_SIZE;
  const windowsSize = size - windowsOffset - GPT_TAIL;
  if (windowsSize < 64 * MiB)
    throw new Error(`a UEFI disk needs more than ${(windowsOffset + GPT_TAIL) / MiB + 64} MiB`);
  return {
    firmware,
    size,
    partitions: [
      { role: 'esp', offset: MiB, size: ESP_SIZE },
      { role: 'msr', offset: MiB + ESP_SIZE, size: MSR_SIZE },
      { role: 'windows', offset: windowsOffset, size: windowsSize },
    ],
  };
}

export function windowsPartition(layout: DiskLayout): PlannedPartition {
  const windows = layout.partitions.find((p) => p.role === 'windows');
  if (!windows) throw new Error('layout without a Windows partition');
  return windows;
}
