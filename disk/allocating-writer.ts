import { BlockTable } from './block-table';
import { allocDirectBuffer } from './direct-io';
import { CopyStep, OutputFile, Segment, zeroParts } from './file-io';
import { readSharedBlockMap, writeSharedBlockMap, type DiskWindow } from './shared-block-map';
import { assertWriteInside, DiskFormat, DiskWriter, Extent, FileRange, roundUp, SECTOR_SIZE } from './types';

/** Where block data starts in the file: shared with native/ntfs/mapped-device.c. */
export const BLOCK_DATA_ALIGNMENT = 4096;
import { isZero } from './zero';

/** A guest range's part in one block. */
interface Piece {
  /** Guest offset of its first byte. */
  position: number;
  block: number;
  /** Its offset in the block. */
  inBlock: number;
  length: number;
}

/** How a block-mapped format lays blocks out in its file. */
export interface BlockLayout {
  blockSize: number;
  /** Bytes the format keeps in front of each block's data (VHD's sector bitmap), 0 for none. */
  prefix: number;
  /** What those bytes hold in a freshly allocated block (VHD: all ones); see AllocatingWriter.write. */
  prefixContent?: Buffer;
  /** File offset of the first block: everything before it is the format's headers and tables. */
  firstBlockAt: number;
  /** Largest file the format can address. */
  maxFileSize: number;
}

/**
 * The writer shared by the block-mapped formats (dynamic VHD, VHDX, sparse VMDK). Blocks are
 * allocated at the end of the file the first time they receive non-zero data, so all-zero blocks
 * never take space; the format module only says how its blocks are laid out and how the metadata
 * looks at the end.
 *
 * Another process may write the file in between (the compositor's NTFS core writes the image's
 * Windows volume straight into it): `share` hands it the block map, `adoptShared` takes back the
 * blocks it allocated. See shared-block-map.ts.
 */
export abstract class AllocatingWriter implements DiskWriter {
  protected readonly table: BlockTable;
  /** File offset where the next block goes (its prefix first). */
  protected nextFree: number;
  /** The page in front of a fresh block's data: padding, then the prefix (see write). */
  private readonly prefixPage: Buffer | undefined;
  /** One bit per block: its prefix went out with its data (see write). */
  private readonly prefixWritten: Uint8Array;
  /** The last placement queued (inTurn) while any is, so later ones wait for it; else undefined. */
  private placing: Promise<void> | undefined;
  private turnsQueued = 0;

  protected constructor(
    readonly format: DiskFormat,
    protected readonly out: OutputFile,
    readonly virtualSize: number,
    protected readonly layout: BlockLayout,
  ) {
    this.table = new BlockTable(Math.ceil(virtualSize / layout.blockSize));
    this.nextFree = layout.firstBlockAt;
    this.prefixWritten = new Uint8Array(layout.prefixContent ? Math.ceil(this.table.blockCount / 8) : 0);
    if (layout.prefixContent) {
      this.prefixPage = allocDirectBuffer(BLOCK_DATA_ALIGNMENT).fill(0);
      layout.prefixContent.copy(this.prefixPage, BLOCK_DATA_ALIGNMENT - layout.prefix);
    }
  }

  /** Writes tables, headers and footers once all data is in. */
  protected abstract writeMetadata(): Promise<void>;

  /**
   * Reserves file space for `block` and returns the file offset of its first guest byte, which is
   * page-aligned (after the prefix, with a gap before it where needed: VHD's 512-byte bitmaps),
   * so the block's data can be written past the page cache.
   */
  private allocate(block: number): number {
    const at = roundUp(this.nextFree + this.layout.prefix, BLOCK_DATA_ALIGNMENT);
    if (at + this.layout.blockSize > this.layout.maxFileSize)
      throw new RangeError(
        `${this.out.finalPath}: the ${this.format} file would pass ${this.layout.maxFileSize} bytes, more than the format can address`,
      );
    this.nextFree = at + this.layout.blockSize;
    this.table.set(block, at);
    return at;
  }

  /**
   * Allocated blocks whose prefix is not in the file yet: the first block (the page before it
   * holds the tables), blocks whose first data started inside them, and blocks another process
   * allocated. Writing the others' prefix again at the end would cost a read of each page, written
   * past the page cache, before the small write.
   */
  protected *blocksWithoutPrefix(): Generator<[block: number, fileOffset: number]> {
    for (const entry of this.table.entries()) {
      const block = entry[0];
      if (!(this.prefixWritten[block >>> 3] & (1 << (block & 7)))) yield entry;
    }
  }

  /**
   * Reserves the file space writes of `ranges`, in this order, will land in (see file-space.ts):
   * the blocks they touch are placed as write() will place them, every block assumed to receive
   * data. A block whose data turns out all zeros is not allocated, which moves the blocks after it;
   * their writes then partly miss the reservation and take the slower path, and finish() gives back
   * the space no write landed in.
   */
  async expectWrites(ranges: Extent[]): Promise<void> {
    const { blockSize } = this.layout;
    const placed = new Map<number, number>();
    const space: Extent[] = [];
    let nextFree = this.nextFree;
    placing: for (const range of ranges) {
      for (let position = range.offset; position < range.offset + range.length;) {
        const block = Math.floor(position / blockSize);
        const inBlock = position - block * blockSize;
        const length = Math.min(blockSize - inBlock, range.offset + range.length - position);
        let fileOffset = this.table.get(block) || placed.get(block);
        if (fileOffset === undefined) {
          fileOffset = roundUp(nextFree + this.layout.prefix, BLOCK_DATA_ALIGNMENT);
          if (fileOffset + blockSize > this.layout.maxFileSize) break placing; // write() reports it
          if (this.prefixPage && inBlock === 0 && fileOffset - BLOCK_DATA_ALIGNMENT >= nextFree)
            space.push({ offset: fileOffset - BLOCK_DATA_ALIGNMENT, length: BLOCK_DATA_ALIGNMENT });
          nextFree = fileOffset + blockSize;
          placed.set(block, fileOffset);
        }
        space.push({ offset: fileOffset + inBlock, length });
        position += length;
      }
    }
    await this.out.reserve(space);
  }

  async write(data: Buffer, offset: number): Promise<void> {
    assertWriteInside(data, offset, this.virtualSize);
    const place = (): Segment[] => {
      const segments: Segment[] = [];
      for (const piece of this.pieces(offset, data.length)) {
        const bytes = data.subarray(piece.position - offset, piece.position - offset + piece.length);
        const fileOffset = this.place(piece, () => isZero(bytes), segments);
        if (fileOffset !== undefined) segments.push({ fileOffset, data: bytes });
      }
      return segments;
    };
    await this.out.writeSegments(this.placing ? await this.inTurn(place) : place());
  }

  /**
   * Writes `range` at `offset` copied file to file (OutputFile.copyFrom). A new block's piece is
   * looked at first: its first 4 KiB read, and, only where those are zeros, the rest, 1 MiB at a
   * time, until a byte is not zero; an all-zero piece is not written, as in write().
   */
  async copyFrom(range: FileRange, offset: number): Promise<void> {
    if (
      offset % SECTOR_SIZE !== 0 ||
      range.length % SECTOR_SIZE !== 0 ||
      offset < 0 ||
      offset + range.length > this.virtualSize
    )
      throw new RangeError(
        `copy of ${range.length} bytes at ${offset} outside the ${this.virtualSize}-byte disk or not whole sectors`,
      );
    const steps = await this.inTurn(async () => {
      const pieces = [...this.pieces(offset, range.length)];
      const fresh = pieces.filter((piece) => this.table.get(piece.block) === 0);
      const zero = await zeroParts(
        range,
        fresh.map((piece) => ({ at: piece.position - offset, length: piece.length })),
      );
      const zeroPieces = new Set(fresh.filter((_, i) => zero[i]));
      const segments: Segment[] = [];
      const steps: CopyStep[] = [];
      for (const piece of pieces) {
        const fileOffset = this.place(piece, () => zeroPieces.has(piece), segments);
        steps.push(...segments.splice(0));
        if (fileOffset !== undefined)
          steps.push({ at: piece.position - offset, length: piece.length, fileOffset });
      }
      return steps;
    });
    await this.out.copyFrom(range, steps);
  }

  /** The pieces of the guest range at `offset`, one per block it touches. */
  private *pieces(offset: number, length: number): Generator<Piece> {
    const { blockSize } = this.layout;
    for (let position = offset; position < offset + length;) {
      const block = Math.floor(position / blockSize);
      const inBlock = position - block * blockSize;
      const pieceLength = Math.min(blockSize - inBlock, offset + length - position);
      yield { position, block, inBlock, length: pieceLength };
      position += pieceLength;
    }
  }

  /**
   * The file offset `piece` is written at: its block's, allocated now if it has none and the piece
   * is not all zeros (`isZero`, asked only then; undefined: nothing to write), with the page before
   * a new block's data added to `segments` where it goes out with the data.
   */
  private place(piece: Piece, isZero: () => boolean, segments: Segment[]): number | undefined {
    const { block, inBlock } = piece;
    let fileOffset = this.table.get(block);
    if (fileOffset === 0) {
      if (isZero()) return undefined;
      const previousEnd = this.nextFree;
      fileOffset = this.allocate(block);
      // A block's prefix is written with its data, as the page before it (padding, then the
      // prefix), when the data starts the block and that page lies past the previous block: then
      // blocks allocated in a row are one contiguous write, written back as one range
      // (write-behind.ts), instead of one per block (VHD's 2 MiB blocks are small). Before data
      // that starts inside the block the page would be a small write of its own (as a direct
      // write, a 4 KiB one into fresh space took 5 ms here); the format's metadata writes those
      // prefixes, with the others (blocksWithoutPrefix), at the end.
      const page = fileOffset - BLOCK_DATA_ALIGNMENT;
      if (this.prefixPage && inBlock === 0 && page >= previousEnd) {
        segments.push({ fileOffset: page, data: this.prefixPage });
        this.prefixWritten[block >>> 3] |= 1 << (block & 7);
      }
    }
    return fileOffset + inBlock;
  }

  /**
   * Runs `place` after every placement queued before it (copyFrom's look at its data takes reads),
   * so blocks are allocated in call order, as write() alone allocates them.
   */
  private inTurn<T>(place: () => T | Promise<T>): Promise<T> {
    const turn = (this.placing ?? Promise.resolve()).then(place);
    this.turnsQueued++;
    this.placing = turn
      .catch(() => undefined)
      .then(() => {
        if (--this.turnsQueued === 0) this.placing = undefined;
      });
    return turn;
  }

  /**
   * Writes the block map to `mapFile` for another process to write the guest range `window` of
   * this disk (see shared-block-map.ts). Until `adoptShared`, this writer must not write.
   */
  async share(mapFile: string, window: DiskWindow): Promise<void> {
    // The other process's writes are not seen here: space reserved for ours must not outlive them,
    // and ours are on disk before it starts.
    await this.out.releaseReservation(this.nextFree);
    await this.out.flushBehind();
    return writeSharedBlockMap(mapFile, {
      diskFile: this.out.tempPath,
      blockSize: this.layout.blockSize,
      prefix: this.layout.prefix,
      nextFree: this.nextFree,
      table: this.table,
      window,
    });
  }

  /** Takes back the block map from `mapFile`, with every block the other process allocated. */
  async adoptShared(mapFile: string): Promise<void> {
    const map = await readSharedBlockMap(mapFile, this.layout, this.table.blockCount);
    for (const [block, fileOffset] of map.blocks) {
      const known = this.table.get(block);
      if (known !== 0 && known !== fileOffset)
        throw new Error(`${mapFile}: block ${block} moved from ${known} to ${fileOffset}`);
      if (known === 0) this.table.set(block, fileOffset);
    }
    this.nextFree = Math.max(this.nextFree, map.nextFree);
  }

  async finish(): Promise<void> {
    try {
      await this.out.releaseReservation(this.nextFree);
      await this.writeMetadata();
      await this.out.commit();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  abort(): Promise<void> {
    return this.out.discard();
  }
}
