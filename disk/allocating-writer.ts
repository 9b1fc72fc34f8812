import { BlockTable } from './block-table';
import { OutputFile, Segment } from './file-io';
import { assertWriteInside, DiskFormat, DiskWriter } from './types';
import { isZero } from './zero';

/**
 * The writer shared by the block-mapped formats (dynamic VHD, VHDX, sparse VMDK). Blocks are
 * allocated at the end of the file the first time they receive non-zero data, so all-zero blocks
 * never take space; the format module only says how a block is allocated and how the metadata
 * looks at the end.
 */
export abstract class AllocatingWriter implements DiskWriter {
  protected readonly table: BlockTable;

  protected constructor(
    readonly format: DiskFormat,
    protected readonly out: OutputFile,
    readonly virtualSize: number,
    protected readonly blockSize: number,
  ) {
    this.table = new BlockTable(Math.ceil(virtualSize / blockSize));
  }

  /**
   * Reserves file space for `block` and returns the file offset of its first guest byte. Extra
   * bytes the format keeps with a block (VHD's sector bitmap) go into `segments`.
   */
  protected abstract allocate(block: number, segments: Segment[]): number;

  /** Writes tables, headers and footers once all data is in. */
  protected abstract writeMetadata(): Promise<void>;

  async write(data: Buffer, offset: number): Promise<void> {
    assertWriteInside(data, offset, this.virtualSize);
    const segments: Segment[] = [];
    for (let done = 0; done < data.length;) {
      const position = offset + done;
      const block = Math.floor(position / this.blockSize);
      const inBlock = position - block * this.blockSize;
      const piece = data.subarray(done, done + Math.min(this.blockSize - inBlock, data.length - done));
      done += piece.length;
      let fileOffset = this.table.get(block);
      if (fileOffset === 0) {
        if (isZero(piece)) continue;
        fileOffset = this.allocate(block, segments);
        this.table.set(block, fileOffset);
      }
      segments.push({ fileOffset: fileOffset + inBlock, data: piece });
    }
    await this.out.writeSegments(segments);
  }

  async finish(): Promise<void> {
    try {
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
