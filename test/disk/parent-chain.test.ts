/**
 * Differencing (child) disks read through to their parents. The expected bytes always come from
 * qemu: the parent's raw image with the child's writes made by `qemu-io` on a raw copy. VMDK
 * children (and a grandchild) are qemu-img's own (`create -b`, written with qemu-io); VHD and
 * VHDX children are qemu-img's dynamic disks made children by child-fixtures.ts, since qemu-img
 * refuses backing files for vpc and vhdx. Lamina's reading is converted to raw and judged by
 * `qemu-img compare`.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { openDisk } from '../../disk/open';
import { makeVhdChild, makeVhdxChild, vhdxDataWriteGuid } from './child-fixtures';
import { expectReadsAs, makeRaw, MIB, qemuConvert, qemuImg, scratchDir } from './helpers';

const SIZE = 64 * MIB;
/** The child's writes: whole 2 MiB blocks (VHD's size; two VHDX blocks) and one 4 KiB write inside a block. */
const WRITES = [
  { offset: 2 * MIB, length: 2 * MIB, pattern: 0x5a },
  { offset: 30 * MIB, length: 4 * MIB, pattern: 0xa5 },
];
const PARTIAL = { offset: 10 * MIB + 6 * 1024, length: 4096, pattern: 0x3c };

const scratch = scratchDir('parent-chain');
afterAll(() => scratch.cleanup());

function qemuIo(
  file: string,
  driver: string,
  writes: { offset: number; length: number; pattern: number }[],
): void {
  execFileSync('qemu-io', [
    '-f',
    driver,
    ...writes.flatMap((w) => ['-c', `write -q -P ${w.pattern} ${w.offset} ${w.length}`]),
    file,
  ]);
}

/** The parent's raw bytes with `writes` made by qemu-io: what the child must read as. */
async function expectedRaw(name: string, base: string, writes: typeof WRITES): Promise<string> {
  const out = scratch.file(name);
  await fs.copyFile(base, out);
  qemuIo(out, 'raw', writes);
  return out;
}

let baseRaw: string;
beforeAll(() => {
  baseRaw = scratch.file('base.raw');
  makeRaw(baseRaw, SIZE, [
    { offset: 0, length: 3 * MIB },
    { offset: 9 * MIB, length: 3 * MIB },
    { offset: 33 * MIB, length: MIB, fill: 'text' },
  ]);
});

describe('VMDK children made by qemu-img', () => {
  test('a child and a grandchild read as the parent with their writes', async () => {
    const base = scratch.file('vmdk/base.vmdk');
    await fs.mkdir(scratch.file('vmdk'));
    qemuConvert(baseRaw, 'vmdk', base);
    const child = scratch.file('vmdk/child.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', child]);
    qemuIo(child, 'vmdk', [...WRITES, PARTIAL]);
    const grandchild = scratch.file('vmdk/grandchild.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'child.vmdk', '-F', 'vmdk', grandchild]);
    const later = { offset: 3 * MIB - 4096, length: 8192, pattern: 0x11 };
    qemuIo(grandchild, 'vmdk', [later]);

    const childWants = await expectedRaw('vmdk-child.raw', baseRaw, [...WRITES, PARTIAL]);
    await expectReadsAs(child, childWants);
    await expectReadsAs(grandchild, await expectedRaw('vmdk-grandchild.raw', childWants, [later]));
    // qemu agrees about what the chain holds.
    expect(qemuImg(['compare', '-F', 'raw', grandchild, scratch.file('vmdk-grandchild.raw')]).status).toBe(0);

    const disk = await openDisk(child);
    try {
      expect(disk.virtualSize).toBe(SIZE);
      // The child's own grains are the writes' (64 KiB grains); the parent's data shows through the rest.
      const own = (disk as import('../../disk/block-mapped-disk').BlockMappedDisk).ownExtents();
      expect(own).toEqual([
        { offset: 2 * MIB, length: 2 * MIB },
        { offset: 10 * MIB, length: 64 * 1024 },
        { offset: 30 * MIB, length: 4 * MIB },
      ]);
    } finally {
      await disk.close();
    }
  });

  test('a missing parent, and a parent written after the child was made, are named errors', async () => {
    await fs.mkdir(scratch.file('vmdk-errors'));
    const base = scratch.file('vmdk-errors/base.vmdk');
    qemuConvert(baseRaw, 'vmdk', base);
    const child = scratch.file('vmdk-errors/child.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', child]);

    // Writing the parent gives it a new CID: the child no longer describes a change of it.
    qemuIo(base, 'vmdk', [{ offset: 0, length: 512, pattern: 1 }]);
    await expect(openDisk(child)).rejects.toThrow(
      /child\.vmdk: VMDK descriptor at offset \d+: parent .*base\.vmdk is not the disk it was made from \(CID [0-9a-f]+, the child expects CID [0-9a-f]+/,
    );
    await fs.rm(base);
    await expect(openDisk(child)).rejects.toThrow(
      /child\.vmdk: .*parent "base\.vmdk" not found \(looked for .*vmdk-errors\/base\.vmdk\)/,
    );
  });
});

describe.each([
  { format: 'vhdx' as const, driver: 'vhdx', options: ['-o', 'block_size=1M'], blockSectors: 2048 },
  {
    format: 'vhd' as const,
    driver: 'vpc',
    options: ['-o', 'subformat=dynamic,force_size=on'],
    blockSectors: 4096,
  },
])('$format children (qemu-img dynamic disks made children)', ({ format, driver, options, blockSectors }) => {
  /** A child of `base` in `dir` holding WRITES whole and PARTIAL as the only sectors of its block. */
  async function makeChild(dir: string, base: string, linkage?: string): Promise<string> {
    const content = scratch.file(`${dir}/content.raw`);
    makeRaw(content, SIZE, []);
    qemuIo(content, 'raw', [...WRITES, PARTIAL]);
    const child = scratch.file(`${dir}/child.${format}`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', driver, ...options, content, child]);
    const blockSize = blockSectors * 512;
    const partial = {
      block: Math.floor(PARTIAL.offset / blockSize),
      firstSector: (PARTIAL.offset % blockSize) / 512,
      sectors: PARTIAL.length / 512,
    };
    if (format === 'vhdx')
      await makeVhdxChild(child, `.\\base.vhdx`, linkage ?? (await vhdxDataWriteGuid(base)), partial);
    else await makeVhdChild(child, base, `.\\base.vhd`, partial);
    return child;
  }

  async function makeBase(dir: string): Promise<string> {
    await fs.mkdir(scratch.file(dir));
    const base = scratch.file(`${dir}/base.${format}`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', driver, ...options, baseRaw, base]);
    return base;
  }

  test('reads as the parent with its blocks, and its partial block sector by sector', async () => {
    const base = await makeBase(`${format}-child`);
    const child = await makeChild(`${format}-child`, base);
    await expectReadsAs(child, await expectedRaw(`${format}-child.raw`, baseRaw, [...WRITES, PARTIAL]));
  });

  test('a missing or replaced parent is a named error', async () => {
    const base = await makeBase(`${format}-errors`);
    const child = await makeChild(`${format}-errors`, base);
    // The parent made again: same bytes, another identity (a new unique id or data write GUID).
    await fs.rm(base);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', driver, ...options, baseRaw, base]);
    const id = format === 'vhdx' ? 'data write GUID' : 'unique id';
    await expect(openDisk(child)).rejects.toThrow(
      new RegExp(
        `child\\.${format}: .* at offset \\d+: parent .*base\\.${format} is not the disk it was made from \\(${id} \\S+, the child expects ${id} \\S+`,
      ),
    );
    await fs.rm(base);
    await expect(openDisk(child)).rejects.toThrow(new RegExp(`parent ".\\\\base\\.${format}".* not found`));
  });
});
