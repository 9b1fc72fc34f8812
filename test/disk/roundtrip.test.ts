/**
 * Every format, both directions, judged by qemu-img: Lamina's output must compare equal to the
 * source and pass `qemu-img check`; qemu-img's output must read back identically in Lamina.
 */
import { BlockMappedDisk } from '../../disk/block-mapped-disk';
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { DISK_FORMATS, DiskFormat } from '../../disk/types';
import {
  expectIdenticalToRaw,
  expectSameContent,
  makeRaw,
  MIB,
  QEMU,
  QEMU_CHECKS,
  qemuConvert,
  qemuImg,
  qemuInfo,
  Region,
  scratchDir,
} from './helpers';

interface Case {
  name: string;
  size: number;
  regions: Region[];
}

const CASES: Case[] = [
  { name: 'empty', size: 0, regions: [] },
  { name: 'one sector', size: 512, regions: [{ offset: 0, length: 512 }] },
  {
    name: 'not MiB-aligned',
    size: 5 * MIB + 1536,
    regions: [
      { offset: 0, length: 4096 },
      { offset: 5 * MIB + 1024, length: 512 },
    ],
  },
  { name: 'fully allocated', size: 3 * MIB, regions: [{ offset: 0, length: 3 * MIB }] },
  { name: 'fully sparse', size: 64 * MIB, regions: [] },
  {
    name: 'mixed',
    size: 40 * MIB,
    regions: [
      { offset: 1 * MIB - 4096, length: 8192 }, // straddles VMDK grains and a VHD block edge
      { offset: 2 * MIB, length: 64 * 1024, fill: 'zeros' }, // allocated in the source, zero in content
      { offset: 7 * MIB, length: 3 * MIB, fill: 'text' }, // compressible
      { offset: 33 * MIB - 512, length: 1024 }, // straddles the first VHDX block
      { offset: 40 * MIB - 512, length: 512 },
    ],
  },
];

/** qemu-img 7.2 cannot open a zero-size VMDK or fixed VHD, not even its own, nor a zero-size VHDX without its oversized BAT. */
function qemuOpens(format: DiskFormat, size: number): boolean {
  return size > 0 || format === 'raw' || format === 'vhd';
}

const scratch = scratchDir('roundtrip');
afterAll(() => scratch.cleanup());

describe.each(CASES)('$name disk', ({ name, size, regions }) => {
  const source = scratch.file(`${name.replace(/\W/g, '_')}.raw`);
  const whole = [{ offset: 0, length: size }];
  beforeAll(() => makeRaw(source, size, regions));

  test.each(DISK_FORMATS)('Lamina writes %s that qemu-img finds equal and clean', async (format) => {
    const out = scratch.file(`${name.replace(/\W/g, '_')}.lamina.${format}`);
    const disk = await openDisk(source);
    await convertDisk(disk, format, out);
    await disk.close();

    const reread = await expectSameContent(out, source, whole);
    expect(reread.format).toBe(format);
    if (regions.every((r) => r.fill === 'zeros')) expect(reread.extents()).toEqual([]);
    if (!qemuOpens(format, size)) return;
    expectIdenticalToRaw(source, format, out);
    expect(qemuInfo(out, format)['virtual-size']).toBe(
      format === 'vhd-fixed' ? Math.ceil(size / MIB) * MIB : size,
    );
    if (QEMU_CHECKS.includes(format)) {
      const check = qemuImg(['check', '-f', QEMU[format].driver, out]);
      expect(check.output).toContain('No errors were found');
      expect(check.status).toBe(0);
    }
  });

  test.each(DISK_FORMATS)('Lamina reads the %s qemu-img writes', async (format) => {
    if (!qemuOpens(format, size)) return;
    const out = scratch.file(`${name.replace(/\W/g, '_')}.qemu.${format}`);
    qemuConvert(source, format, out);
    const disk = await expectSameContent(out, source, whole);
    expect(disk.format).toBe(format);
    expect(disk.virtualSize).toBe(qemuInfo(out, format)['virtual-size']);
  });
});

describe('format to format: qemu-img writes one format, Lamina converts it to every other', () => {
  const source = scratch.file('matrix.raw');
  const regions: Region[] = [
    { offset: 0, length: 3 * MIB },
    { offset: 9 * MIB + 512, length: 4096, fill: 'text' },
    { offset: 48 * MIB - 1024, length: 1024 },
  ];
  beforeAll(() => makeRaw(source, 48 * MIB, regions));

  test.each(DISK_FORMATS)('from %s', async (from) => {
    const input = scratch.file(`matrix.qemu.${from}`);
    qemuConvert(source, from, input);
    for (const to of DISK_FORMATS) {
      const out = scratch.file(`matrix.${from}.to.${to}`);
      const disk = await openDisk(input);
      await convertDisk(disk, to, out);
      await disk.close();
      const compare = qemuImg(['compare', '-f', 'raw', '-F', QEMU[to].driver, source, out]);
      expect({ from, to, output: compare.output.trim() }).toEqual({
        from,
        to,
        output: 'Images are identical.',
      });
    }
  });
});

describe('VHDX with another block size', () => {
  const source = scratch.file('block-size.raw');
  const size = 40 * MIB;
  beforeAll(() =>
    makeRaw(source, size, [
      { offset: 1 * MIB - 4096, length: 8192 }, // straddles the first 1 MiB block
      { offset: 7 * MIB, length: 3 * MIB, fill: 'text' },
      { offset: 40 * MIB - 512, length: 512 },
    ]),
  );

  it.each([1, 256])(
    '%i MiB blocks: qemu-img reads the size back and finds the disk equal and clean',
    async (mib) => {
      const out = scratch.file(`block-size-${mib}.vhdx`);
      const disk = await openDisk(source);
      await convertDisk(disk, 'vhdx', out, { blockSize: mib * MIB });
      await disk.close();
      expect(qemuImg(['compare', '-f', 'raw', '-F', 'vhdx', source, out]).output).toContain(
        'Images are identical',
      );
      expect(qemuImg(['check', '-f', 'vhdx', out]).output).toContain('No errors were found');
      // qemu-img maps the BAT with the block size the metadata gives: a wrong one would not compare equal.
      const reread = await expectSameContent(out, source, [{ offset: 0, length: size }]);
      expect((reread as BlockMappedDisk).blockSize).toBe(mib * MIB);
    },
  );

  it('refuses a block size VHDX cannot have', async () => {
    const disk = await openDisk(source);
    await expect(convertDisk(disk, 'vhdx', scratch.file('bad.vhdx'), { blockSize: 3 * MIB })).rejects.toThrow(
      'VHDX block size 3145728 is not a power of two between 1 and 256 MiB',
    );
    await disk.close();
  });
});
