/**
 * Lamina's differencing VHDX writer (createDiskWriter('vhdx', path, { virtualSize, parent })). The
 * parent is qemu-img's VHDX; the expected bytes are qemu-io's writes on a raw copy of the parent's
 * content, as in parent-chain.test.ts. qemu-img cannot open VHDX children (it has no backing file
 * support for vhdx), so Lamina reads the child, converted to raw, and `qemu-img compare` judges it.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BlockMappedDisk } from '../../disk/block-mapped-disk';
import { convertDisk } from '../../disk/convert';
import { createDiskWriter, openDisk } from '../../disk/open';
import { expectReadsAs, makeRaw, MIB, qemuImg, scratchDir } from './helpers';

const SIZE = 64 * MIB;
const BLOCK = 2 * MIB;

const scratch = scratchDir('differencing-writer');
afterAll(() => scratch.cleanup());

interface Write {
  offset: number;
  length: number;
  /** A byte to fill with; 'parent' rewrites the parent's own bytes there. */
  pattern: number | 'parent';
}

/**
 * What a guest writes into the child, against the parent's data at 0-3, 9-12 and 33-34 MiB: a
 * block of zeros over data (block 0 reads zeros, stored as a zero block), 4 KiB inside a data
 * block (block 5 stored whole), the parent's own bytes again (block 4: nothing stored), 1 MiB where
 * the parent is empty (block 20), and zeros where it is empty (nothing stored).
 */
const WRITES: Write[] = [
  { offset: 0, length: BLOCK, pattern: 0 },
  { offset: 10 * MIB + 6 * 1024, length: 4096, pattern: 0x3c },
  { offset: 9 * MIB, length: MIB, pattern: 'parent' },
  { offset: 40 * MIB, length: MIB, pattern: 0xa5 },
  { offset: 50 * MIB, length: MIB, pattern: 0 },
];
const CHANGED_BLOCKS = [
  { offset: 0, length: BLOCK },
  { offset: 10 * MIB, length: BLOCK },
  { offset: 40 * MIB, length: BLOCK },
];

let parentRaw: string;
let parent: string;
let expected: string;

beforeAll(async () => {
  parentRaw = scratch.file('parent.raw');
  makeRaw(parentRaw, SIZE, [
    { offset: 0, length: 3 * MIB },
    { offset: 9 * MIB, length: 3 * MIB },
    { offset: 33 * MIB, length: MIB, fill: 'text' },
  ]);
  await fs.mkdir(scratch.file('vms'));
  parent = scratch.file('vms/base.vhdx');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', parentRaw, parent]);
  expected = scratch.file('expected.raw');
  await fs.copyFile(parentRaw, expected);
  const changes = WRITES.filter((w) => w.pattern !== 'parent');
  execFileSync('qemu-io', [
    '-f',
    'raw',
    ...changes.flatMap((w) => ['-c', `write -q -P ${w.pattern as number} ${w.offset} ${w.length}`]),
    expected,
  ]);
});

/** The child's own ranges and stored bytes, as Lamina's reader sees them. */
async function ownBlocks(disk: string): Promise<{ own: unknown; allocated: number; format: string }> {
  const opened = (await openDisk(disk)) as BlockMappedDisk;
  try {
    return { own: opened.ownExtents(), allocated: opened.allocatedBytes, format: opened.format };
  } finally {
    await opened.close();
  }
}

async function writeChild(child: string): Promise<void> {
  const parentBytes = await fs.readFile(parentRaw);
  const writer = await createDiskWriter('vhdx', child, { virtualSize: SIZE, parent });
  try {
    // Two writes at a time into the same block's neighbourhood, as copyDisk's ring sends them.
    await Promise.all(
      WRITES.map((w) =>
        writer.write(
          w.pattern === 'parent'
            ? parentBytes.subarray(w.offset, w.offset + w.length)
            : Buffer.alloc(w.length, w.pattern),
          w.offset,
        ),
      ),
    );
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish();
}

test('a child holds only the blocks that differ from its parent, and reads as the parent with the writes', async () => {
  const child = scratch.file('vms/child.vhdx');
  await writeChild(child);
  await expectReadsAs(child, expected);
  // Two 2 MiB blocks stored (block 0 reads zeros without being stored), nothing of the parent's data.
  expect(await ownBlocks(child)).toEqual({ own: CHANGED_BLOCKS, allocated: 2 * BLOCK, format: 'vhdx' });
  expect((await fs.stat(child)).size).toBeLessThan((await fs.stat(parent)).size);
  // qemu-img has no backing files for vhdx: it refuses the child rather than read it without its parent.
  const refused = qemuImg(['info', child]);
  expect(refused.output).toMatch(/Could not open .*child\.vhdx.*Operation not supported/);
  expect(refused.status).not.toBe(0);
});

test('a whole disk converted into a child of its base stores only the blocks that differ', async () => {
  const child = scratch.file('vms/converted.vhdx');
  const source = await openDisk(expected);
  try {
    await convertDisk(source, 'vhdx', child, { parent });
  } finally {
    await source.close();
  }
  await expectReadsAs(child, expected);
  expect((await ownBlocks(child)).own).toEqual(CHANGED_BLOCKS);
});

test('the parent is found by its relative path when both move, and by its absolute path when the child moves alone', async () => {
  const child = scratch.file('vms/moving.vhdx');
  await writeChild(child);
  // Alone in another folder: the absolute path.
  await fs.mkdir(scratch.file('elsewhere'));
  const alone = scratch.file('elsewhere/moving.vhdx');
  await fs.copyFile(child, alone);
  await expectReadsAs(alone, expected);
  // Both moved together: the relative path (.\base.vhdx), the old absolute path gone.
  await fs.mkdir(scratch.file('moved'));
  await fs.copyFile(parent, scratch.file('moved/base.vhdx'));
  await fs.rename(child, scratch.file('moved/moving.vhdx'));
  const renamedParent = scratch.file('vms/base.renamed.vhdx');
  await fs.rename(parent, renamedParent);
  try {
    await expectReadsAs(scratch.file('moved/moving.vhdx'), expected);
    await expect(openDisk(alone)).rejects.toThrow(
      /moving\.vhdx: VHDX parent locator at offset \d+: parent ".\\base\.vhdx" or ".*vms\/base\.vhdx" not found/,
    );
  } finally {
    await fs.rename(renamedParent, parent);
  }
});

test('a parent that is not a VHDX, or of another size, is refused before anything is written', async () => {
  const dir = scratch.file('refused');
  await fs.mkdir(dir);
  await expect(
    createDiskWriter('vhdx', path.join(dir, 'child.vhdx'), { virtualSize: SIZE, parent: parentRaw }),
  ).rejects.toThrow(/parent\.raw: a differencing VHDX needs a VHDX parent, and this is a raw disk/);
  await expect(
    createDiskWriter('vhdx', path.join(dir, 'child.vhdx'), { virtualSize: 2 * SIZE, parent }),
  ).rejects.toThrow(
    /a differencing VHDX has its parent's size: .*base\.vhdx holds 67108864 bytes, not 134217728/,
  );
  await expect(
    createDiskWriter('vmdk', path.join(dir, 'child.vmdk'), { virtualSize: SIZE, parent }),
  ).rejects.toThrow(/vmdk disks are not written as differencing disks \(vhdx is\)/);
  expect(await fs.readdir(dir)).toEqual([]);
});
