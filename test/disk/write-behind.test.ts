/**
 * An output's bulk data goes through the page cache with write-behind (disk/write-behind.ts): each
 * piece is written back while the copy goes on and dropped from the cache once on disk. The output
 * must still be what qemu-img finds equal to the source, and once the conversion returns nothing
 * but its small metadata may be left in the page cache (util-linux's fincore says).
 */
import { execFileSync } from 'node:child_process';
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { expectIdenticalToRaw, makeRaw, MIB, QEMU, QEMU_CHECKS, qemuImg, scratchDir } from './helpers';

const scratch = scratchDir('write-behind');
afterAll(() => scratch.cleanup());

/** tmpfs keeps every page in memory whatever it is told: there is no disk to write back to. */
const onTmpfs = execFileSync('stat', ['-f', '-c', '%T', scratch.dir]).toString().trim() === 'tmpfs';

function fincoreBytes(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file]).toString());
}

const DATA = [
  { offset: 0, length: 40 * MIB },
  { offset: 50 * MIB + 4096, length: 30 * MIB },
  { offset: 100 * MIB, length: 3 * MIB + 512, fill: 'text' as const },
  { offset: 150 * MIB, length: 64 * MIB },
];
const source = scratch.file('source.raw');
beforeAll(() => makeRaw(source, 256 * MIB, DATA));

it.each(['vhd', 'vhdx', 'raw', 'vmdk', 'vhd-fixed'] as const)(
  'a %s output is what qemu-img reads as the source, and leaves the page cache',
  async (format) => {
    const out = scratch.file(`out.${format}`);
    const disk = await openDisk(source);
    await convertDisk(disk, format, out);
    await disk.close();
    // 137 MiB of data were written; headers, tables and bitmaps (a few MiB) may stay cached. Asked
    // before qemu-img reads the file into the cache.
    if (!onTmpfs) expect(fincoreBytes(out)).toBeLessThan(8 * MIB);
    expectIdenticalToRaw(source, format, out);
    if (QEMU_CHECKS.includes(format))
      expect(qemuImg(['check', '-f', QEMU[format].driver, out]).status).toBe(0);
  },
);
