/** The data map of sparse raw files, which decides what a conversion reads: missing a range would lose data. */
import { execFileSync } from 'node:child_process';
import { openDisk } from '../../disk/open';
import { makeRaw, MIB, scratchDir } from './helpers';

const scratch = scratchDir('raw-extents');
afterAll(() => scratch.cleanup());

test('a real sparse file: data ranges found, preallocated space skipped, content intact', async () => {
  const file = scratch.file('sparse.raw');
  makeRaw(file, 64 * MIB, [
    { offset: 3 * MIB, length: 4096 },
    { offset: 40 * MIB + 512, length: 2 * MIB },
  ]);
  execFileSync('fallocate', ['-o', String(50 * MIB), '-l', String(256 * 1024), file]);
  const disk = await openDisk(file);
  const extents = disk.extents();
  await disk.close();
  const covers = (offset: number, length: number) =>
    extents.some((e) => e.offset <= offset && offset + length <= e.offset + e.length);
  expect(covers(3 * MIB, 4096)).toBe(true);
  expect(covers(40 * MIB + 512, 2 * MIB)).toBe(true);
  // Unless the file system keeps no map (then the whole file is one range), holes are left out.
  if (extents.length > 1) expect(extents.reduce((sum, e) => sum + e.length, 0)).toBeLessThan(4 * MIB);
});

test('files mapped right after being written, before writeback, never lose data', async () => {
  for (let i = 0; i < 60; i++) {
    const file = scratch.file(`fresh-${i % 3}.raw`);
    makeRaw(file, 40 * MIB, [
      { offset: 0, length: 128 * 1024 },
      { offset: 40 * MIB - 512, length: 512 },
    ]);
    const disk = await openDisk(file);
    const covered = disk.extents().reduce((sum, e) => sum + e.length, 0);
    await disk.close();
    expect(covered).toBeGreaterThanOrEqual(128 * 1024 + 512);
  }
});
