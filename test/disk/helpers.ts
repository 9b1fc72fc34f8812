import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, writeSync, ftruncateSync, rmSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { convertDisk } from '../../disk/convert';
import { openDisk } from '../../disk/open';
import { DiskFormat, VirtualDisk } from '../../disk/types';

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;
export const TIB = 1024 * GIB;

/** qemu's driver name and creation options for each Lamina format. */
export const QEMU: Record<DiskFormat, { driver: string; options: string[] }> = {
  raw: { driver: 'raw', options: [] },
  vhd: { driver: 'vpc', options: ['-o', 'subformat=dynamic,force_size=on'] },
  'vhd-fixed': { driver: 'vpc', options: ['-o', 'subformat=fixed,force_size=on'] },
  vhdx: { driver: 'vhdx', options: [] },
  vmdk: { driver: 'vmdk', options: ['-o', 'subformat=monolithicSparse'] },
  'vmdk-stream': { driver: 'vmdk', options: ['-o', 'subformat=streamOptimized'] },
};

/** Formats whose image `qemu-img check` can verify (qemu 7.2 has no check for vpc). */
export const QEMU_CHECKS: DiskFormat[] = ['vhdx', 'vmdk', 'vmdk-stream'];

export function scratchDir(name: string): { dir: string; file: (n: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `lamina-${name}-`));
  return {
    dir,
    file: (n) => path.join(dir, n),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Region {
  offset: number;
  length: number;
  /** Random bytes by default; 'zeros' writes explicit zeros (allocated in the file, zero in content). */
  fill?: 'random' | 'zeros' | 'text';
}

/** A sparse raw file of `size` bytes with data only in `regions`. */
export function makeRaw(file: string, size: number, regions: Region[]): void {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
    for (const r of regions) {
      const data =
        r.fill === 'zeros'
          ? Buffer.alloc(r.length)
          : r.fill === 'text'
            ? Buffer.alloc(r.length, 'lamina ')
            : randomBytes(r.length);
      writeSync(fd, data, 0, data.length, r.offset);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether files in `dir` report their holes (FIEMAP through filefrag). Where they do not (tmpfs),
 * a multi-TiB sparse raw source would be read in full, so the size-edge tests skip themselves.
 */
export function holesAreMapped(dir: string): boolean {
  const probe = path.join(dir, 'fiemap-probe.raw');
  makeRaw(probe, 4 * MIB, [{ offset: MIB, length: 4096 }]);
  const result = spawnSync('filefrag', ['-s', '-e', probe], { encoding: 'utf8' });
  rmSync(probe, { force: true });
  return result.status === 0 && /^\s*\d+:\s+\d+\.\./m.test(result.stdout);
}

export function qemuImg(args: string[]): { status: number; output: string } {
  const result = spawnSync('qemu-img', args, { encoding: 'utf8', timeout: 300_000 });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

export function qemuInfo(
  file: string,
  format: DiskFormat,
): { 'virtual-size': number; format: string; 'format-specific'?: { data?: { 'create-type'?: string } } } {
  return JSON.parse(
    execFileSync('qemu-img', ['info', '--output=json', '-f', QEMU[format].driver, file], {
      encoding: 'utf8',
    }),
  );
}

export function qemuConvert(source: string, format: DiskFormat, out: string): void {
  execFileSync('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    QEMU[format].driver,
    ...QEMU[format].options,
    source,
    out,
  ]);
}

/**
 * Reads a byte range of an image through qemu (`qemu-img dd`), for disks too large for
 * `qemu-img compare`, which reads every byte of a VHDX because qemu has no block status for it.
 */
export function qemuReadRange(
  file: string,
  format: DiskFormat,
  offset: number,
  length: number,
  scratchFile: string,
): Buffer {
  rmSync(scratchFile, { force: true });
  // qemu-img dd counts the skipped blocks in `count`, unlike dd(1).
  const range = ['bs=512', `skip=${offset / 512}`, `count=${(offset + length) / 512}`];
  execFileSync('qemu-img', [
    'dd',
    '-f',
    QEMU[format].driver,
    '-O',
    'raw',
    ...range,
    `if=${file}`,
    `of=${scratchFile}`,
  ]);
  return readRaw(scratchFile, 0, length);
}

/** Reads `length` bytes of a raw file at `offset` (zeros past its end). */
export function readRaw(file: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Opens `file` with Lamina and checks every byte of the given ranges against the raw `reference`. */
export async function expectSameContent(
  file: string,
  reference: string,
  ranges: { offset: number; length: number }[],
): Promise<VirtualDisk> {
  const disk = await openDisk(file);
  try {
    for (const r of ranges) {
      for (let at = r.offset; at < r.offset + r.length; at += 4 * MIB) {
        const length = Math.min(4 * MIB, r.offset + r.length - at);
        const got = Buffer.alloc(length);
        await disk.read(got, at);
        const want = readRaw(reference, at, length);
        if (!got.equals(want))
          throw new Error(`${file}: content differs from ${reference} in ${length} bytes at ${at}`);
      }
    }
    return disk;
  } finally {
    await disk.close();
  }
}

/** qemu-img finds `image`, a `format` disk, identical to the raw file `raw`. */
export function expectIdenticalToRaw(raw: string, format: DiskFormat, image: string): void {
  const compare = qemuImg(['compare', '-f', 'raw', '-F', QEMU[format].driver, raw, image]);
  expect(compare.output).toContain('Images are identical');
  expect(compare.status).toBe(0);
}

/** Lamina's reading of `disk`, as a raw file, compared by qemu-img with the raw file `expected`. */
export async function expectReadsAs(disk: string, expected: string): Promise<void> {
  const opened = await openDisk(disk);
  const out = `${disk}.lamina.raw`;
  try {
    await convertDisk(opened, 'raw', out);
  } finally {
    await opened.close();
  }
  const compare = qemuImg(['compare', '-f', 'raw', '-F', 'raw', expected, out]);
  expect(compare.output).toContain('Images are identical');
  expect(compare.status).toBe(0);
  await rm(out);
}
