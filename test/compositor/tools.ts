import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main } from '../../cli/main';

/**
 * Checks through tools nobody here wrote: qemu-img, sfdisk/sgdisk, dd, ntfs-3g's ntfs* tools,
 * hivexregedit, mtools.
 */

export function run(command: string, args: string[]): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function runStatus(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export function scratchDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `lamina-${name}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Any disk format → raw, by qemu-img. */
export function toRaw(image: string, raw: string): string {
  run('qemu-img', ['convert', '-O', 'raw', image, raw]);
  return raw;
}

export interface TablePartition {
  start: number;
  size: number;
  type: string;
  bootable?: boolean;
}

/** The partition table as sfdisk reads it (sectors). */
export function partitionTable(raw: string): { label: string; partitions: TablePartition[] } {
  return (
    JSON.parse(run('sfdisk', ['--json', raw])) as {
      partitiontable: { label: string; partitions: TablePartition[] };
    }
  ).partitiontable;
}

/** Cuts partition `index` (0-based) out of a raw disk with dd. */
export function cutPartition(raw: string, index: number, out: string): string {
  const partition = partitionTable(raw).partitions[index];
  run('dd', [
    `if=${raw}`,
    `of=${out}`,
    'bs=512',
    `skip=${partition.start}`,
    `count=${partition.size}`,
    'conv=sparse',
    'status=none',
  ]);
  return out;
}

export function ntfsCat(volume: string, file: string, stream?: string): string {
  return run('ntfscat', [...(stream ? ['-a', '0x80', '-n', stream] : []), volume, file]);
}

export function ntfsList(volume: string, dir: string): string[] {
  return run('ntfsls', ['-p', dir, volume])
    .split('\n')
    .filter((name) => name && name !== '.' && name !== '..');
}

/** ntfsfix -n: checks without changing anything; exit 0 means a healthy volume. */
export function ntfsfixClean(volume: string): boolean {
  return runStatus('ntfsfix', ['-n', volume]).status === 0;
}

/** Owner, group and interpreted mode of a file's security descriptor, by ntfssecaudit. */
export function ntfsSecurity(volume: string, file: string): string {
  return run('ntfssecaudit', [volume, file]);
}

export function ntfsFileInfo(volume: string, file: string): string {
  return run('ntfsinfo', ['-F', file, volume]);
}

/** A hive file's key, exported as regedit text by hivexregedit. */
export function hiveExport(volume: string, hive: string, key: string, dir: string): string {
  const file = path.join(dir, `${hive}.${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    file,
    execFileSync('ntfscat', [volume, `/Windows/System32/config/${hive}`], { maxBuffer: 256 * 1024 * 1024 }),
  );
  try {
    return run('hivexregedit', ['--export', '--unsafe-printable-strings', file, key]);
  } finally {
    rmSync(file);
  }
}

export function mdir(fat: string, dir: string): string {
  return run('mdir', ['-b', '-i', fat, `::${dir}`]);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lamina ARGS` in this process, capturing what it prints. */
export async function lamina(...args: string[]): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(chunk.toString());
    return true;
  });
  const log = jest
    .spyOn(console, 'log')
    .mockImplementation((...parts: unknown[]) => void stdout.push(parts.join(' ') + '\n'));
  const error = jest
    .spyOn(console, 'error')
    .mockImplementation((...parts: unknown[]) => void stderr.push(parts.join(' ') + '\n'));
  try {
    const code = await main(args);
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  } finally {
    write.mockRestore();
    log.mockRestore();
    error.mockRestore();
  }
}

/** Runs `lamina compose ARGS --out OUT`, expecting success with nothing on stderr; returns OUT. */
export async function composeImage(out: string, ...args: string[]): Promise<string> {
  const result = await lamina('compose', ...args, '--out', out);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return out;
}

/** Files in `dir` (to prove a failed command left nothing behind). */
export function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}
