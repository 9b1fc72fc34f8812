/**
 * A conversion whose source is in the page cache copies it file to file in the kernel
 * (DiskWriter.copyFrom: splice, native/io/page-cache.cc) instead of reading it into a buffer and
 * writing that. The output must be what the buffered copy writes, byte for byte (same identity):
 * the same blocks, allocated in the same order, all-zero blocks left out (their data looked at
 * from the file: a block whose first bytes are zeros and the rest not is stored), and where the
 * kernel refuses the copy, the bytes are read and written instead.
 */
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { convertDisk, copyDisk } from '../../disk/convert';
import { createDiskWriter, openDisk } from '../../disk/open';
import type { VirtualDisk } from '../../disk/types';
import {
  expectIdenticalToRaw,
  makeRaw,
  MIB,
  QEMU,
  QEMU_CHECKS,
  qemuImg,
  readRaw,
  scratchDir,
} from './helpers';

const scratch = scratchDir('copy-from');
afterAll(() => scratch.cleanup());

const SIZE = 128 * MIB;
const DATA = [
  { offset: 0, length: 64 * 1024 },
  // One extent: a VHD block (2 MiB) whose first MiB is zeros, then data over the next blocks.
  { offset: 4 * MIB, length: MIB, fill: 'zeros' as const },
  { offset: 5 * MIB, length: 3 * MIB, fill: 'text' as const },
  // Allocated in the source, all zeros: a whole block of either format, never stored.
  { offset: 64 * MIB, length: 32 * MIB, fill: 'zeros' as const },
  { offset: 100 * MIB, length: 6 * MIB + 4096 },
];
const DATA_BYTES = DATA.filter((r) => r.fill !== 'zeros').reduce((sum, r) => sum + r.length, 0);

const source = scratch.file('source.raw');
beforeAll(() => makeRaw(source, SIZE, DATA));

/** `disk` without fileRange: every chunk is read into a buffer and written (the path before copyFrom). */
function buffered(disk: VirtualDisk): VirtualDisk {
  return {
    path: disk.path,
    format: disk.format,
    virtualSize: disk.virtualSize,
    sectorSize: disk.sectorSize,
    allocatedBytes: disk.allocatedBytes,
    extents: () => disk.extents(),
    read: (target, offset) => disk.read(target, offset),
    close: () => Promise.resolve(),
  };
}

describe.each(['vhd', 'vhdx'] as const)('%s', (format) => {
  it('copies a cached source file to file, to the bytes the buffered copy writes', async () => {
    const copied = scratch.file(`copied.${format}`);
    const written = scratch.file(`written.${format}`);
    const disk = await openDisk(source);
    try {
      // Just written, so in the page cache: the conversion copies file to file.
      expect(await disk.fileRange?.(0, MIB)).toMatchObject({ fileOffset: 0, length: MIB });
      await convertDisk(disk, format, copied, { identity: 'copy-from' });
      await convertDisk(buffered(disk), format, written, { identity: 'copy-from' });
    } finally {
      await disk.close();
    }
    expectIdenticalToRaw(source, format, copied);
    if (QEMU_CHECKS.includes(format))
      expect(qemuImg(['check', '-f', QEMU[format].driver, copied]).status).toBe(0);
    expect(readFileSync(copied).equals(readFileSync(written))).toBe(true);
    // The all-zero block is not stored; the block that starts with a MiB of zeros is.
    const stored = statSync(copied).blocks * 512;
    expect(stored).toBeGreaterThanOrEqual(DATA_BYTES);
    expect(stored).toBeLessThan(DATA_BYTES + 32 * MIB);
  });

  it('reads and writes the bytes where the kernel refuses to copy them', async () => {
    const copied = scratch.file(`refused.${format}`);
    const written = scratch.file(`buffered.${format}`);
    const disk = await openDisk(source);
    try {
      await convertDisk(buffered(disk), format, written, { identity: 'copy-from' });
    } finally {
      await disk.close();
    }
    const data = readRaw(source, 0, SIZE);
    const read = async (target: Buffer, offset: number) =>
      void data.copy(target, 0, offset, offset + target.length);
    // A directory cannot be spliced from (EINVAL): every step falls back to the range's read.
    const dir = openSync(scratch.dir, 'r');
    const refusing: VirtualDisk = {
      path: source,
      format: 'raw',
      virtualSize: SIZE,
      sectorSize: 512,
      allocatedBytes: SIZE,
      extents: () => DATA.map(({ offset, length }) => ({ offset, length })),
      read,
      fileRange: async (offset, length) => ({
        fd: dir,
        fileOffset: offset,
        length,
        read: (target, at) => read(target, offset + at),
      }),
      close: () => Promise.resolve(),
    };
    const writer = await createDiskWriter(format, copied, { virtualSize: SIZE, identity: 'copy-from' });
    try {
      await copyDisk(refusing, writer);
      await writer.finish();
    } finally {
      closeSync(dir);
    }
    expectIdenticalToRaw(source, format, copied);
    expect(readFileSync(copied).equals(readFileSync(written))).toBe(true);
  });
});
