/**
 * A conversion to a block-mapped format reserves the output's file space before its direct writes
 * start (disk/file-space.ts), placing blocks as the writer will. Where the guess misses (an extent
 * whose blocks turn out all zeros is not allocated, so the blocks after it move), the writes still
 * land where they belong and the space nobody wrote is given back: qemu-img finds the output equal
 * to the source, and the file stores no more than its data and metadata.
 */
import { statSync } from 'node:fs';
import { convertDisk } from '../../disk/convert';
import { mergeRanges, subtractRanges } from '../../disk/file-space';
import { openDisk } from '../../disk/open';
import { expectIdenticalToRaw, makeRaw, MIB, QEMU, QEMU_CHECKS, qemuImg, scratchDir } from './helpers';

const scratch = scratchDir('reserved-space');
afterAll(() => scratch.cleanup());

describe('range arithmetic', () => {
  it('joins overlapping and touching ranges, in order', () => {
    expect(
      mergeRanges([
        { offset: 100, length: 10 },
        { offset: 0, length: 10 },
        { offset: 10, length: 5 },
        { offset: 105, length: 20 },
      ]),
    ).toEqual([
      { offset: 0, length: 15 },
      { offset: 100, length: 25 },
    ]);
  });

  it('leaves what no covering range overlaps', () => {
    expect(
      subtractRanges(
        [
          { offset: 0, length: 100 },
          { offset: 200, length: 50 },
        ],
        [
          { offset: 10, length: 10 },
          { offset: 50, length: 60 },
          { offset: 240, length: 100 },
        ],
      ),
    ).toEqual([
      { offset: 0, length: 10 },
      { offset: 20, length: 30 },
      { offset: 200, length: 40 },
    ]);
    expect(subtractRanges([{ offset: 0, length: 8 }], [{ offset: 0, length: 8 }])).toEqual([]);
  });
});

const DATA = [
  { offset: 0, length: 64 * 1024 },
  { offset: 9 * MIB, length: 3 * MIB + 4096 },
  { offset: 70 * MIB, length: 20 * MIB, fill: 'text' as const },
  // Allocated in the source but all zeros, up to a block boundary of both formats: reserved for,
  // never written, so the blocks after it move.
  { offset: 130 * MIB, length: 30 * MIB, fill: 'zeros' as const },
  { offset: 160 * MIB, length: 5 * MIB },
  { offset: 250 * MIB, length: 6 * MIB },
];
const DATA_BYTES = DATA.filter((r) => r.fill !== 'zeros').reduce((sum, r) => sum + r.length, 0);

const source = scratch.file('source.raw');
beforeAll(() => makeRaw(source, 256 * MIB, DATA));

it.each(['vhd', 'vhdx'] as const)(
  'a %s conversion stores the data it wrote, not the space it reserved',
  async (format) => {
    const out = scratch.file(`out.${format}`);
    const disk = await openDisk(source);
    await convertDisk(disk, format, out);
    await disk.close();
    expectIdenticalToRaw(source, format, out);
    if (QEMU_CHECKS.includes(format))
      expect(qemuImg(['check', '-f', QEMU[format].driver, out]).status).toBe(0);
    // Metadata: VHDX headers, metadata region and BAT (a few MiB at most); VHD a page per block.
    const stored = statSync(out).blocks * 512;
    expect(stored).toBeGreaterThanOrEqual(DATA_BYTES);
    expect(stored).toBeLessThanOrEqual(DATA_BYTES + 4 * MIB);
  },
);
