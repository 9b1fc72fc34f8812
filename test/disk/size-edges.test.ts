/**
 * Sizes where formats have limits: VHD beyond the 127 GiB CHS ceiling (only the footer's size is
 * right there), the 2040 GiB VHD maximum, and a 3 TiB VHDX. All files are sparse. qemu reads back
 * the data ranges (and a zero block between them) with `qemu-img dd`: `qemu-img compare` would read
 * all 3 TiB of a VHDX.
 */
import { convertDisk } from '../../disk/convert';
import { createDiskWriter, openDisk } from '../../disk/open';
import { chsGeometry } from '../../disk/formats/vhd';
import { DiskFormat } from '../../disk/types';
import {
  expectSameContent,
  GIB,
  makeRaw,
  MIB,
  qemuConvert,
  qemuImg,
  qemuInfo,
  QEMU,
  QEMU_CHECKS,
  qemuReadRange,
  holesAreMapped,
  readRaw,
  scratchDir,
  TIB,
} from './helpers';

const scratch = scratchDir('edges');
afterAll(() => scratch.cleanup());

/** 130 GiB plus a few sectors: past CHS (65535×16×255 sectors ≈ 127.5 GiB) and not MiB-aligned. */
const BEYOND_CHS = 130 * GIB + 3 * 512;

const EDGES: { format: DiskFormat; size: number }[] = [
  { format: 'vhd', size: BEYOND_CHS },
  { format: 'vhd-fixed', size: BEYOND_CHS },
  { format: 'vhdx', size: 3 * TIB },
  { format: 'vmdk', size: BEYOND_CHS },
  { format: 'vmdk-stream', size: BEYOND_CHS },
];

// Without a hole map these sources would be read in full (terabytes of zeros): skip, and say so.
const describeIfHolesMapped = holesAreMapped(scratch.dir) ? describe : describe.skip;

describeIfHolesMapped.each(EDGES)('$format of $size bytes', ({ format, size }) => {
  const source = scratch.file(`${format}.raw`);
  const data = [
    { offset: 0, length: 64 * 1024 },
    { offset: size - 5 * MIB, length: 5 * MIB - 512 },
    { offset: size - 512, length: 512 },
  ];
  beforeAll(() => makeRaw(source, size, data));

  test('Lamina writes it and qemu-img sees the exact size and the same data', async () => {
    const out = scratch.file(`lamina.${format}`);
    const disk = await openDisk(source);
    await convertDisk(disk, format, out);
    await disk.close();
    const expectedSize = format === 'vhd-fixed' ? Math.ceil(size / MIB) * MIB : size;
    expect(qemuInfo(out, format)['virtual-size']).toBe(expectedSize);
    for (const r of data) {
      const seen = qemuReadRange(out, format, r.offset, r.length, scratch.file('range.raw'));
      expect({ at: r.offset, same: seen.equals(readRaw(source, r.offset, r.length)) }).toEqual({
        at: r.offset,
        same: true,
      });
    }
    // Between the data, qemu must see zeros too (a sample block in the middle).
    const middle = Math.floor(size / 2 / MIB) * MIB;
    expect(qemuReadRange(out, format, middle, MIB, scratch.file('range.raw')).equals(Buffer.alloc(MIB))).toBe(
      true,
    );
    if (QEMU_CHECKS.includes(format))
      expect(qemuImg(['check', '-f', QEMU[format].driver, out]).output).toContain('No errors were found');
    const reread = await expectSameContent(out, source, data);
    expect(reread.virtualSize).toBe(expectedSize);
  });

  test('Lamina reads the one qemu-img writes', async () => {
    const out = scratch.file(`qemu.${format}`);
    qemuConvert(source, format, out);
    const disk = await expectSameContent(out, source, data);
    expect(disk.virtualSize).toBe(qemuInfo(out, format)['virtual-size']);
  });
});

test('the VHD footer carries CHS geometry capped at 65535/16/255 beyond 127 GiB', () => {
  expect(chsGeometry(BEYOND_CHS)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  // The specification's worked region below the cap: 17-sector tracks for small disks.
  expect(chsGeometry(20 * MIB)).toEqual({ cylinders: 602, heads: 4, sectorsPerTrack: 17 });
});

test('VHD refuses a disk beyond its 2040 GiB maximum, and says to use VHDX', async () => {
  await expect(
    createDiskWriter('vhd', scratch.file('too-big.vhd'), { virtualSize: 2041 * GIB }),
  ).rejects.toThrow(/2040 GiB.*vhdx/);
});
