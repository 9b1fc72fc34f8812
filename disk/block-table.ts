/**
 * Where each block of a virtual disk lives in its file (0 = not allocated; offset 0 always holds a
 * header in every block-mapped format). Pages are created on first use, so a 2 TiB disk with a few
 * allocated blocks costs a few pages, not a 32-million-entry array.
 */
const PAGE_SIZE = 4096;

export class BlockTable {
  private readonly pages: (Float64Array | undefined)[];
  private allocated = 0;

  constructor(readonly blockCount: number) {
    this.pages = new Array(Math.ceil(blockCount / PAGE_SIZE));
  }

  get(block: number): number {
    const page = this.pages[Math.floor(block / PAGE_SIZE)];
    return page ? page[block % PAGE_SIZE] : 0;
  }

  /** Records where `block` lives; `fileOffset` is never 0 (see above). */
  set(block: number, fileOffset: number): void {
    if (block < 0 || block >= this.blockCount)
      throw new RangeError(`block ${block} outside 0..${this.blockCount - 1}`);
    const index = Math.floor(block / PAGE_SIZE);
    const page = (this.pages[index] ??= new Float64Array(PAGE_SIZE));
    const slot = block % PAGE_SIZE;
    if (page[slot] === 0) this.allocated++;
    page[slot] = fileOffset;
  }

  get allocatedCount(): number {
    return this.allocated;
  }

  /** Allocated blocks in ascending block order. */
  *entries(): Generator<[block: number, fileOffset: number]> {
    for (let p = 0; p < this.pages.length; p++) {
      const page = this.pages[p];
      if (!page) continue;
      for (let slot = 0; slot < PAGE_SIZE; slot++) {
        if (page[slot] !== 0) yield [p * PAGE_SIZE + slot, page[slot]];
      }
    }
  }
}
