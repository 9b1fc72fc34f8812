/** The data map of sparse raw files, which decides what a conversion reads: missing a range would lose data. */
import { execFileSync } from 'node:child_process';
import { parseFilefrag } from '../../disk/formats/raw-extents';
import { openDisk } from '../../disk/open';
import { makeRaw, MIB, scratchDir } from './helpers';

const scratch = scratchDir('raw-extents');
afterAll(() => scratch.cleanup());

test('filefrag listings: delayed allocation counts as data, unwritten extents do not, neighbours merge', () => {
  const listing = [
    'Filesystem type is: ef53',
    'File size of x is 1073741824 (262144 blocks of 4096 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0..       0:    3835905..   3835905:      1:',
    '   1:        1..       3:          0..         0:      0:             unknown_loc,delalloc',
    '   2:      256..     511:    3806720..   3806975:    256:    3941376: unwritten',
    '   3:   262000..  262143:    3838976..   3839119:    144:    3861504: last,eof',
    'x: 4 extents found',
  ].join('\n');
  expect(parseFilefrag(listing, 1073741824 - 4096)).toEqual({
    ranges: [
      { offset: 0, length: 4 * 4096 },
      { offset: 262000 * 4096, length: 143 * 4096 },
    ],
    listedBytes: (1 + 3 + 256 + 144) * 4096,
  });
  expect(parseFilefrag('no header here', 4096)).toBeUndefined();
});

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
  // Unless the filesystem lacks FIEMAP (then the whole file is one range), holes are left out.
  if (extents.length > 1) expect(extents.reduce((sum, e) => sum + e.length, 0)).toBeLessThan(4 * MIB);
});

test('files mapped right after being written never lose data (FIEMAP can briefly list nothing)', async () => {
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
