import { allocDirectBuffer } from './direct-io';
import { assertWriteInside, DiskWriter, VirtualDisk } from './types';
import { isZero } from './zero';

/**
 * Writes a differencing (child) disk of `parent`: what is written is the disk's content, and only
 * the blocks where it differs from the parent are stored, each whole (a block is the child's or the
 * parent's, never some sectors of each). What is never written reads as the parent.
 *
 * The format's own writer (`inner`, a block-mapped writer laid out as a child) stores the blocks;
 * this decides which. A piece that lands on a block the child does not hold yet is compared with
 * the parent's bytes there: equal, it is dropped; different, the block is filled with the parent's
 * bytes, the piece laid over them, and written whole. A block that comes out all zeros where the
 * parent has data is not stored but marked in `zeroBlocks` (VHDX's PAYLOAD_BLOCK_ZERO), which the
 * format writes into its table so that block reads as zeros rather than as the parent.
 */
export class DifferencingWriter implements DiskWriter {
  readonly format: DiskWriter['format'];
  readonly virtualSize: number;
  /** Blocks whose bytes the child holds in full. */
  private readonly own = new Set<number>();
  /** Per block, the operation in progress: pieces of one block (from writes in flight together) go in turn. */
  private readonly busy = new Map<number, Promise<void>>();
  private parentClosed: Promise<void> | undefined;

  constructor(
    private readonly inner: DiskWriter,
    private readonly parent: VirtualDisk,
    private readonly blockSize: number,
    /** Blocks that read as zeros whatever the parent holds; the format writer stores them so. */
    private readonly zeroBlocks: Set<number>,
  ) {
    this.format = inner.format;
    this.virtualSize = inner.virtualSize;
  }

  async write(data: Buffer, offset: number): Promise<void> {
    assertWriteInside(data, offset, this.virtualSize);
    const pieces: Promise<void>[] = [];
    for (let done = 0; done < data.length;) {
      const position = offset + done;
      const block = Math.floor(position / this.blockSize);
      const inBlock = position - block * this.blockSize;
      const piece = data.subarray(done, done + Math.min(this.blockSize - inBlock, data.length - done));
      pieces.push(this.inTurn(block, () => this.writePiece(block, inBlock, piece)));
      done += piece.length;
    }
    await Promise.all(pieces);
  }

  private inTurn(block: number, operation: () => Promise<void>): Promise<void> {
    const previous = this.busy.get(block) ?? Promise.resolve();
    const next = previous.then(operation);
    const settled = next.catch(() => undefined);
    this.busy.set(block, settled);
    void settled.then(() => {
      if (this.busy.get(block) === settled) this.busy.delete(block);
    });
    return next;
  }

  private async writePiece(block: number, inBlock: number, piece: Buffer): Promise<void> {
    const blockStart = block * this.blockSize;
    if (this.own.has(block)) return this.inner.write(piece, blockStart + inBlock);
    // What the block reads as now: zeros where it was marked so, the parent's bytes otherwise.
    const whole = allocDirectBuffer(Math.min(this.blockSize, this.virtualSize - blockStart));
    if (this.zeroBlocks.has(block)) whole.fill(0);
    else await this.readParent(whole, blockStart);
    if (whole.subarray(inBlock, inBlock + piece.length).equals(piece)) return;
    piece.copy(whole, inBlock);
    if (isZero(whole)) {
      this.zeroBlocks.add(block);
      return;
    }
    await this.inner.write(whole, blockStart);
    this.own.add(block);
    this.zeroBlocks.delete(block);
  }

  /** The parent's bytes at `position`; past the parent's end, zeros (as the reader reads them). */
  private async readParent(target: Buffer, position: number): Promise<void> {
    const inParent = Math.max(0, Math.min(target.length, this.parent.virtualSize - position));
    if (inParent > 0) await this.parent.read(target.subarray(0, inParent), position);
    target.fill(0, inParent);
  }

  async finish(): Promise<void> {
    try {
      await Promise.all(this.busy.values());
      await this.inner.finish();
    } finally {
      await this.closeParent();
    }
  }

  async abort(): Promise<void> {
    try {
      await Promise.all(this.busy.values());
      await this.inner.abort();
    } finally {
      await this.closeParent();
    }
  }

  /** Once, whichever of finish and abort (which may come twice) gets there first. */
  private closeParent(): Promise<void> {
    this.parentClosed ??= this.parent.close();
    return this.parentClosed;
  }
}
