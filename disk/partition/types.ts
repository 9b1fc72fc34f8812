/** A partition as found on or planned for a disk; offsets in bytes from the start of the disk. */
export interface Partition {
  /** 1-based slot number, as Windows and Linux name partitions. */
  number: number;
  /** GPT: type GUID; MBR: the type byte as two hex digits ("07"). */
  type: string;
  /** A friendly name for known types ("EFI system", "Microsoft basic data"…). */
  typeName: string;
  start: number;
  size: number;
  /** GPT partition name. */
  name?: string;
  /** MBR active flag. */
  bootable?: boolean;
}

export interface PartitionTable {
  scheme: 'mbr' | 'gpt';
  partitions: Partition[];
}

/** What the compositor asks for; partitions are placed in order, each starting on a 1 MiB boundary. */
export interface PartitionSpec {
  kind: 'esp' | 'msr' | 'basic-data';
  /** Bytes (rounded up to whole MiB); omit on the last partition to fill the disk. */
  size?: number;
  name?: string;
  bootable?: boolean;
}

export interface TableOptions {
  /** Logical sector size of the disk (512 unless the container says otherwise). */
  sectorSize?: number;
  /** Seed for the disk and partition ids, as for writers (see identity.ts); random when omitted. */
  identity?: string;
}

/** Windows aligns partitions to 1 MiB; so do we, which also aligns them to every format's blocks. */
export const PARTITION_ALIGNMENT = 1024 * 1024;

/** Places `specs` on 1 MiB boundaries between `firstUsable` and `lastUsable` (byte offsets, inclusive end). */
export function placePartitions(
  specs: PartitionSpec[],
  firstUsable: number,
  endUsable: number,
): { spec: PartitionSpec; start: number; size: number }[] {
  let next = Math.ceil(firstUsable / PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT;
  return specs.map((spec, i) => {
    const fill = spec.size === undefined;
    if (fill && i !== specs.length - 1) throw new RangeError('only the last partition may omit its size');
    const size = fill
      ? Math.floor((endUsable - next) / PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT
      : Math.ceil(spec.size! / PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT;
    if (size <= 0 || next + size > endUsable)
      throw new RangeError(`partition ${i + 1} (${spec.kind}) does not fit on the disk`);
    const placed = { spec, start: next, size };
    next += size;
    return placed;
  });
}
