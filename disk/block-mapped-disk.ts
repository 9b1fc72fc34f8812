import { BlockTable } from './block-table';
import { DiskFormatError } from './errors';
import { InputFile } from './file-io';
import { writeSharedBlockMap, type DiskWindow } from './shared-block-map';
import { assertReadInside, DiskFormat, Extent, SECTOR_SIZE, VirtualDisk } from './types';

/**
 * The reader shared by every format that maps fixed-size guest blocks to file offsets through a
 * table (VHD's BAT, VHDX's BAT, VMDK's grain tables). A format module parses its headers, fills a
 * BlockTable and hands both here; unmapped blocks read as zeros.
 */
export class BlockMappedDisk implements VirtualDisk {
  constructor(
    readonly format: DiskFormat,
    protected readonly file: InputFile,
    readonly virtualSize: number,
    readonly blockSize: number,
    protected readonly table: BlockTable,
    readonly sectorSize = SECTOR_SIZE,
  ) {}

  get path(): string {
    return this.file.path;
  }

  get allocatedBytes(): number {
    return this.table.allocatedCount * this.blockSize;
  }

  extents(): Extent[] {
    const extents: Extent[] = [];
    for (const [block] of this.table.entries()) {
      const offset = block * this.blockSize;
      const length = Math.min(this.blockSize, this.virtualSize - offset);
      const last = extents[extents.length - 1];
      if (last && last.offset + last.length === offset) last.length += length;
      else extents.push({ offset, length });
    }
    return extents;
  }

  async read(target: Buffer, offset: number): Promise<void> {
    assertReadInside(this, target, offset);
    const reads: Promise<void>[] = [];
    for (let done = 0; done < target.length;) {
      const position = offset + done;
      const block = Math.floor(position / this.blockSize);
      const inBlock = position - block * this.blockSize;
      const piece = target.subarray(done, done + Math.min(this.blockSize - inBlock, target.length - done));
      const fileOffset = this.table.get(block);
      if (fileOffset === 0) piece.fill(0);
      else reads.push(this.readMapped(block, fileOffset, inBlock, piece));
      done += piece.length;
    }
    await Promise.all(reads);
  }

  /**
   * Writes this disk's block map to `mapFile` so another process can read the guest range
   * `window` straight from the file (native/ntfs/mapped-device.c); false, with nothing written,
   * when its blocks are not plain bytes in the file (compressed grains, a replayed log).
   */
  async shareForReading(mapFile: string, window: DiskWindow): Promise<boolean> {
    if (!this.plainBlocks || this.file.patched) return false;
    await writeSharedBlockMap(mapFile, {
      diskFile: this.file.path,
      blockSize: this.blockSize,
      prefix: 0,
      nextFree: 0,
      table: this.table,
      window,
    });
    return true;
  }

  /** Whether allocated blocks hold the guest bytes as they are; compressed formats say no. */
  protected readonly plainBlocks: boolean = true;

  /** Reads an allocated block's bytes; compressed formats override this. */
  protected readMapped(block: number, fileOffset: number, inBlock: number, piece: Buffer): Promise<void> {
    return this.file.readInto(`${this.format} block ${block}`, piece, fileOffset + inBlock);
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** Where a format's blocks may live, for assertBlocksPlaced. */
export interface BlockPlacement {
  /** Name of the table in messages, e.g. "VHD BAT". */
  tableName: string;
  /** File offset of a block's table entry, so the message points at the culprit. */
  entryOffset: (block: number) => number;
  /** Bytes each block occupies in the file, counted from its first guest byte. */
  blockBytes: number;
  /** Bytes the format keeps right before each block's data (VHD's sector bitmap). */
  leadingBytes: number;
  /** Lowest and highest-plus-one file offsets that blocks may occupy. */
  dataStart: number;
  dataEnd: number;
  /** Other metadata areas blocks must stay out of, by name. */
  reserved?: { name: string; offset: number; length: number }[];
}

/**
 * Checks that every allocated block lies after the metadata, ends inside the file and overlaps no
 * other block, so a corrupt table is reported instead of read as guest data.
 */
export function assertBlocksPlaced(file: InputFile, table: BlockTable, p: BlockPlacement): void {
  const footprint = p.leadingBytes + p.blockBytes;
  const starts = new Float64Array(table.allocatedCount);
  let count = 0;
  for (const [block, dataAt] of table.entries()) {
    const start = dataAt - p.leadingBytes;
    const where = `${p.tableName} entry ${block}`;
    if (start < p.dataStart)
      throw new DiskFormatError(
        file.path,
        where,
        p.entryOffset(block),
        `block at ${start} overlaps the metadata (data starts at ${p.dataStart})`,
      );
    if (start + footprint > p.dataEnd)
      throw new DiskFormatError(
        file.path,
        where,
        p.entryOffset(block),
        `block at ${start} ends past the end of the data area (${p.dataEnd})`,
      );
    const clash = p.reserved?.find((r) => start < r.offset + r.length && r.offset < start + footprint);
    if (clash)
      throw new DiskFormatError(
        file.path,
        where,
        p.entryOffset(block),
        `block at ${start} overlaps the ${clash.name}`,
      );
    starts[count++] = start;
  }
  starts.sort();
  for (let i = 1; i < count; i++) {
    if (starts[i] < starts[i - 1] + footprint) {
      // Rare error path: look up which entry points at the overlapping offset.
      const block =
        [...table.entries()].find(([, dataAt]) => dataAt - p.leadingBytes === starts[i])?.[0] ?? -1;
      throw new DiskFormatError(
        file.path,
        `${p.tableName} entry ${block}`,
        p.entryOffset(block),
        `block at ${starts[i]} overlaps the block at ${starts[i - 1]}`,
      );
    }
  }
}
