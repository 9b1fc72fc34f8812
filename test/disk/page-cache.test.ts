/**
 * A conversion reads its source past the page cache when the source is not cached (direct I/O)
 * and from the cache when it mostly is (disk/file-io.ts asks the kernel, through disk/direct-io.ts).
 * What it finds cached must be what util-linux's fincore finds, and both paths must give what
 * qemu-img finds equal to the source.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { convertDisk } from '../../disk/convert';
import { residentBytes } from '../../disk/direct-io';
import { openDisk } from '../../disk/open';
import { expectIdenticalToRaw, makeRaw, MIB, scratchDir } from './helpers';

const scratch = scratchDir('page-cache');
afterAll(() => scratch.cleanup());

function fincoreBytes(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file]).toString());
}

/** Writes the file's pages back and drops them from the cache (dd's nocache is posix_fadvise DONTNEED). */
function evict(file: string): void {
  const fd = openSync(file, 'r');
  fsyncSync(fd);
  closeSync(fd);
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

const source = scratch.file('source.raw');
beforeAll(() =>
  makeRaw(source, 64 * MIB, [
    { offset: 0, length: 5 * MIB },
    { offset: 9 * MIB, length: 3 * MIB + 4096 },
    { offset: 40 * MIB, length: 20 * MIB, fill: 'text' },
  ]),
);

it('finds as many bytes of a file cached as fincore does', async () => {
  const fd = openSync(source, 'r');
  try {
    evict(source);
    expect(await residentBytes(fd, 64 * MIB)).toBeLessThan(MIB);
    readFileSync(source);
    const cached = await residentBytes(fd, 64 * MIB);
    expect(cached).toBeGreaterThanOrEqual(28 * MIB);
    expect(Math.abs((cached ?? 0) - fincoreBytes(source))).toBeLessThan(MIB);
  } finally {
    closeSync(fd);
  }
});

describe.each(['cold', 'warm'] as const)('a %s source', (cache) => {
  it.each(['vhd', 'vhdx'] as const)('converts to %s that qemu-img finds equal', async (format) => {
    if (cache === 'cold') {
      evict(source);
      expect(fincoreBytes(source)).toBeLessThan(MIB);
    } else {
      readFileSync(source);
      expect(fincoreBytes(source)).toBeGreaterThanOrEqual(28 * MIB);
    }
    const out = scratch.file(`${cache}.${format}`);
    const disk = await openDisk(source);
    await convertDisk(disk, format, out);
    await disk.close();
    expectIdenticalToRaw(source, format, out);
  });
});
