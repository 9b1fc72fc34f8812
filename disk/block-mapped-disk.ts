import { BlockTable } from './block-table';
import { DiskFormatError } from './errors';
import { InputFile } from './file-io';
import type { ParentLink } from './parent-chain';
import {
  writeMapBacking,
  writeSharedBlockMap,
  writeWholeVolumeBitmap,
  type DiskWindow,
} from './shared-block-map';
import { assertReadInside, DiskFormat, Extent, SECTOR_SIZE, VirtualDisk } from './types';

/**
 * What a differencing (child) disk holds besides its block table, as its format reader found it:
 * its parent, the blocks it reads as zeros whatever the parent holds, and the blocks only some of
 * whose sectors are its own.
 */
export interface ChildBlocks {
  link: ParentLink;
  /** Blocks that read as zeros rather than as the parent (VHDX zero and unmapped states, VMDK zero grains). */
  zeroBlocks: Set<number>;
  /** Allocated blocks whose sectors are partly the parent's: one bit per sector, least significant first, set = this disk's. */
  partialBlocks: Map<number, Buffer>;
}

/**
 * The reader shared by every format that maps fixed-size guest blocks to file offsets through a
 * table (VHD's BAT, VHDX's BAT, VMDK's grain tables). A format module parses its headers, fills a
 * BlockTable and hands both here; unmapped blocks read as zeros, or, in a differencing disk, as its
 * parent (attached by openDisk, disk/parent-chain.ts).
 */
export class BlockMappedDisk implements VirtualDisk {
  private parentDisk: VirtualDisk | undefined;

  constructor(
    readonly format: DiskFormat,
    protected readonly file: InputFile,
    readonly virtualSize: number,
    readonly blockSize: number,
    protected readonly table: BlockTable,
    readonly sectorSize = SECTOR_SIZE,
    /** A differencing disk's own blocks beyond the table, and where its parent is. */
    readonly child?: ChildBlocks,
    /** What a child of this disk names it by (parent-chain.ts), e.g. `vhdx:` and its data write GUID. */
    readonly linkId?: string,
  ) {}

  /** The parent a child reads through to, once openDisk found it. */
  get parent(): VirtualDisk | undefined {
    return this.parentDisk;
  }

  attachParent(parent: VirtualDisk): void {
    this.parentDisk = parent;
  }

  /**
   * The ranges this disk holds itself, whatever its parent holds: what changed since the parent
   * was the disk (every block a guest wrote, whole).
   */
  ownExtents(): Extent[] {
    const blocks = [...this.allocatedBlocks(), ...(this.child?.zeroBlocks ?? [])];
    return this.blockExtents(blocks.sort((a, b) => a - b));
  }

  private *allocatedBlocks(): Generator<number> {
    for (const [block] of this.table.entries()) yield block;
  }

  private blockExtents(blocks: Iterable<number>): Extent[] {
    const extents: Extent[] = [];
    for (const block of blocks) {
      const offset = block * this.blockSize;
      const length = Math.min(this.blockSize, this.virtualSize - offset);
      const last = extents[extents.length - 1];
      if (last && last.offset + last.length === offset) last.length += length;
      else extents.push({ offset, length });
    }
    return extents;
  }

  get path(): string {
    return this.file.path;
  }

  get allocatedBytes(): number {
    return this.table.allocatedCount * this.blockSize;
  }

  extents(): Extent[] {
    const own = this.blockExtents(this.allocatedBlocks());
    if (!this.parentDisk) return own;
    const inherited = this.parentDisk
      .extents()
      .filter((e) => e.offset < this.virtualSize)
      .map((e) => ({ offset: e.offset, length: Math.min(e.length, this.virtualSize - e.offset) }));
    return mergeExtents([...own, ...inherited]);
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
      const sectors = this.child?.partialBlocks.get(block);
      if (fileOffset !== 0 && sectors)
        reads.push(this.readPartial(block, fileOffset, inBlock, piece, sectors));
      else if (fileOffset !== 0) reads.push(this.readMapped(block, fileOffset, inBlock, piece));
      else if (this.parentDisk && !this.child?.zeroBlocks.has(block))
        reads.push(this.readParent(piece, position));
      else piece.fill(0);
      done += piece.length;
    }
    await Promise.all(reads);
  }

  /** The parent's bytes at `position`; past the parent's end (a child made larger), zeros. */
  private async readParent(piece: Buffer, position: number): Promise<void> {
    const parent = this.parentDisk!;
    const inParent = Math.max(0, Math.min(piece.length, parent.virtualSize - position));
    if (inParent > 0) await parent.read(piece.subarray(0, inParent), position);
    piece.fill(0, inParent);
  }

  /** A block whose sectors are partly this disk's (bit set) and partly the parent's. */
  private async readPartial(
    block: number,
    fileOffset: number,
    inBlock: number,
    piece: Buffer,
    sectors: Buffer,
  ): Promise<void> {
    await this.readMapped(block, fileOffset, inBlock, piece);
    const own = (sector: number) => ((sectors[sector >> 3] >> (sector & 7)) & 1) === 1;
    const blockStart = block * this.blockSize;
    const first = Math.floor(inBlock / this.sectorSize);
    const end = Math.ceil((inBlock + piece.length) / this.sectorSize);
    for (let sector = first; sector < end;) {
      if (own(sector)) {
        sector++;
        continue;
      }
      let runEnd = sector + 1;
      while (runEnd < end && !own(runEnd)) runEnd++;
      const from = Math.max(inBlock, sector * this.sectorSize);
      const to = Math.min(inBlock + piece.length, runEnd * this.sectorSize);
      await this.readParent(piece.subarray(from - inBlock, to - inBlock), blockStart + from);
      sector = runEnd;
    }
  }

  /**
   * Writes this disk's block map to `mapFile` so another process can read the guest range
   * `window` straight from the file (native/ntfs/mapped-device.c); false when its blocks are not
   * plain bytes in the file (compressed grains, a replayed log, a child's partial or zero blocks).
   * A child's map reads through to its parent's (MAPFILE.parent) where it holds no block.
   */
  async shareForReading(mapFile: string, window: DiskWindow): Promise<boolean> {
    if (!this.plainBlocks || this.file.patched) return false;
    if (this.child) {
      // The map says, per block, "these bytes" or "the backing's": not "zeros" nor "some sectors each".
      if (this.child.zeroBlocks.size > 0 || this.child.partialBlocks.size > 0) return false;
      // Never-written blocks show the parent's volume, itself read in place (and its parent's, and so on).
      const parent = this.parentDisk;
      const parentMap = `${mapFile}.parent`;
      if (!(parent instanceof BlockMappedDisk) || parent.virtualSize < window.offset + window.size)
        return false;
      if (!(await parent.shareForReading(parentMap, window))) return false;
      const bitmapFile = `${mapFile}.parent.bitmap`;
      await writeMapBacking(mapFile, {
        volume: `mapped:${parentMap}`,
        clusterSize: await writeWholeVolumeBitmap(bitmapFile, window.size),
        bitmapFile,
      });
    }
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

  async close(): Promise<void> {
    await this.file.close();
    await this.parentDisk?.close();
  }
}

/** Extents as one ascending list without overlaps. */
function mergeExtents(extents: Extent[]): Extent[] {
  const merged: Extent[] = [];
  for (const e of extents.sort((a, b) => a.offset - b.offset)) {
    const last = merged[merged.length - 1];
    if (last && e.offset <= last.offset + last.length)
      last.length = Math.max(last.length, e.offset + e.length - last.offset);
    else merged.push({ ...e });
  }
  return merged;
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
