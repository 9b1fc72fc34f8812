/**
 * `npm run bench:disk`: converts sparse raw disks to every format with Lamina's CLI and with
 * `qemu-img convert`, alternating between them, and prints per format, source shape and cache
 * state the median times, the median CPU times, and the median and the largest of the paired
 * ratios Lamina/qemu-img (each pair ran back to back, so a busy moment of the machine hits both).
 * Shapes:
 *
 * - random, compressible: a quarter of the disk is data, in 1 MiB pieces at random places, of
 *   random bytes or of text (which matters for vmdk-stream);
 * - random-32m: a quarter of the disk is random bytes, in 32 MiB pieces at random places;
 * - real-files: an NTFS volume (mkntfs, filled through ntfs-3g) holding real program files copied
 *   from LAMINA_BENCH_TREES (default /usr/lib:/usr/share), a fifth of the disk. It needs root,
 *   mkntfs and ntfs-3g, and is left out with a note where they are missing.
 *
 * Every run is timed until its output is on disk (Lamina fsyncs; qemu-img's output gets a `sync`)
 * and starts from the same state: nothing to write back, no disk data cached (see durable.ts), both
 * tools' programs loaded (loadPrograms). A warm run then reads the source's data through the page cache first, as for a disk that was written
 * or read a moment ago (a compose's output, a download).
 *
 * LAMINA_BENCH_DISK_GIB (default 8) sets the disk size, LAMINA_BENCH_REPEATS (default 3) the runs
 * per tool; LAMINA_BENCH_SHAPES, LAMINA_BENCH_FORMATS and LAMINA_BENCH_CACHE (cold,warm) pick the
 * rows (comma-separated; default all); LAMINA_BENCH_DIR is the scratch folder (default: the
 * system temp folder); LAMINA_BENCH_INPUTS=DIR keeps the sources in DIR and reuses them on later
 * runs (filling the real-files volume takes a minute or more).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDisk } from '../disk';
import { DiskFormat } from '../disk/types';
import { measureUntilDurable, settle } from './durable';
import { median } from './median';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const SIZE = Number(process.env.LAMINA_BENCH_DISK_GIB ?? 8) * GIB;
const REPEATS = Number(process.env.LAMINA_BENCH_REPEATS ?? 3);
const LAMINA = path.join(__dirname, '..', '..', 'bin', 'lamina');

/**
 * Lamina's environment: this one without NODE_EXTRA_CA_CERTS, which the development VMs set for
 * every process. Node 20 reads and parses the bundle it names (220 KB of certificates) while it
 * starts, before any of Lamina's code runs: `node -e 0` took 71 ms with it and 27 ms without, and
 * `lamina disk info` of a 1 MiB disk 113 ms against 60 ms, at load average 4-5 (mean of 10 runs);
 * 205-226 ms against 133 ms at load 7. The appliance's image does not set it, a conversion opens no
 * TLS connection, and qemu-img never reads it.
 */
const LAMINA_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'NODE_EXTRA_CA_CERTS'),
);

const QEMU_TARGET: Record<Exclude<DiskFormat, 'raw'>, string[]> = {
  vhd: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'],
  'vhd-fixed': ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'],
  vhdx: ['-O', 'vhdx'],
  vmdk: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'],
  'vmdk-stream': ['-O', 'vmdk', '-o', 'subformat=streamOptimized'],
};
type Target = keyof typeof QEMU_TARGET;
/** Targets from the issue: qemu-img deflates streamOptimized on one core, Lamina on all. */
const TARGET_RATIO: Record<Target, number> = { vhd: 1, 'vhd-fixed': 1, vhdx: 1, vmdk: 1, 'vmdk-stream': 0.5 };

const SHAPES = ['random', 'compressible', 'random-32m', 'real-files'] as const;
type Shape = (typeof SHAPES)[number];
const CACHES = ['cold', 'warm'] as const;
type Cache = (typeof CACHES)[number];

/** A comma-separated selection from `all`, from the environment variable `name`; all by default. */
function pick<T extends string>(name: string, all: readonly T[]): T[] {
  const asked = process.env[name]?.split(',').filter(Boolean);
  if (!asked) return [...all];
  const unknown = asked.filter((a) => !all.includes(a as T));
  if (unknown.length > 0)
    throw new Error(`${name}: unknown ${unknown.join(', ')} (one of ${all.join(', ')})`);
  return asked as T[];
}

/** A small deterministic PRNG so every source puts data at the same places on every run. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function compressibleMiB(index: number): Buffer {
  const line = (n: number) =>
    `${String(index * 100000 + n).padStart(10, '0')} C:\\Program Files\\Lamina\\layer-${index % 97}.dll ok\n`;
  const text = Array.from({ length: 20000 }, (_, n) => line(n)).join('');
  return Buffer.from(text.padEnd(MIB, '.').slice(0, MIB));
}

/** A quarter of the disk in `piece`-sized pieces of random or compressible data, at random places. */
function makePieces(file: string, piece: number, kind: 'random' | 'compressible'): void {
  const slots = SIZE / piece;
  const random = lcg(42);
  const chosen = new Set<number>();
  while (chosen.size < slots / 4) chosen.add(Math.floor(random() * slots));
  const fd = openSync(file, 'w');
  ftruncateSync(fd, SIZE);
  for (const slot of [...chosen].sort((a, b) => a - b)) {
    for (let at = 0; at < piece; at += MIB) {
      const data = kind === 'random' ? randomBytes(MIB) : compressibleMiB((slot * piece + at) / MIB);
      writeSync(fd, data, 0, MIB, slot * piece + at);
    }
  }
  // A source disk normally sits on disk already; flushing it keeps writeback of the fresh
  // source out of whichever conversion happens to run first.
  fsyncSync(fd);
  closeSync(fd);
}

function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Why the real-files shape cannot be made here, or undefined when it can. */
function realFilesMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'mounting the NTFS volume needs root';
  const missing = ['mkntfs', 'ntfs-3g'].filter((tool) => !hasTool(tool));
  if (missing.length > 0) return `${missing.join(' and ')} not installed (apt-get install ntfs-3g)`;
  return undefined;
}

/**
 * Copies regular files from `trees` into `target`, depth first in name order (the same files on
 * every run of one machine), until `budget` bytes are copied. Files that cannot be read are
 * passed over: /usr holds a few that only their owner may read.
 */
function copyTrees(trees: string[], target: string, budget: number): number {
  let copied = 0;
  const walk = (from: string, to: string): void => {
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (copied >= budget) return;
      const source = path.join(from, entry.name);
      if (entry.isDirectory()) walk(source, path.join(to, entry.name));
      else if (entry.isFile()) {
        const size = statSync(source).size;
        if (copied + size > budget) continue;
        try {
          copyFileSync(source, path.join(to, entry.name));
          copied += size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
        }
      }
    }
  };
  for (const tree of trees) walk(tree, path.join(target, path.basename(tree)));
  return copied;
}

/** An NTFS volume filling the disk, with a fifth of the disk's size in real files copied into it. */
function makeRealFiles(file: string): void {
  const mountPoint = `${file}.mnt`;
  const fd = openSync(file, 'w');
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  execFileSync('mkntfs', ['--force', '--quick', '--quiet', file], { stdio: 'ignore' });
  mkdirSync(mountPoint, { recursive: true });
  execFileSync('ntfs-3g', [file, mountPoint]);
  let copied: number;
  try {
    const trees = (process.env.LAMINA_BENCH_TREES ?? '/usr/lib:/usr/share').split(':');
    copied = copyTrees(trees, mountPoint, SIZE / 5);
  } finally {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true });
  }
  execFileSync('sync', [file]);
  console.error(`real-files: ${(copied / GIB).toFixed(2)} GiB of files in ${file}`);
}

function makeSource(file: string, shape: Shape): void {
  if (shape === 'real-files') makeRealFiles(file);
  else if (shape === 'random-32m') makePieces(file, 32 * MIB, 'random');
  else makePieces(file, MIB, shape);
}

/** The source for `shape`: reused from LAMINA_BENCH_INPUTS when an earlier run made it there. */
function sourceFor(shape: Shape, scratch: string): string {
  const kept = process.env.LAMINA_BENCH_INPUTS;
  const name = `${shape}-${SIZE / GIB}g.raw`;
  if (!kept) {
    makeSource(path.join(scratch, name), shape);
    return path.join(scratch, name);
  }
  const file = path.join(path.resolve(kept), name);
  if (existsSync(file)) return file;
  mkdirSync(path.dirname(file), { recursive: true });
  // Made under a temporary name, so an interrupted run never leaves a half-made source to reuse.
  makeSource(`${file}.partial`, shape);
  renameSync(`${file}.partial`, file);
  return file;
}

/** Reads the source's data through the page cache, as a disk read a moment ago would be cached. */
async function warm(source: string): Promise<void> {
  const disk = await openDisk(source);
  const extents = disk.extents();
  await disk.close();
  const fd = openSync(source, 'r');
  const buffer = Buffer.alloc(4 * MIB);
  try {
    for (const { offset, length } of extents) {
      for (let at = offset; at < offset + length; at += buffer.length)
        readSync(fd, buffer, 0, Math.min(buffer.length, offset + length - at), at);
    }
  } finally {
    closeSync(fd);
  }
}

interface Row {
  format: Target;
  shape: Shape;
  cache: Cache;
  seconds: { lamina: number[]; qemu: number[] };
  cpu: { lamina: number[]; qemu: number[] };
  ratios: number[];
  mib: { lamina: number; qemu: number };
}

function formatRow(r: Row): string {
  const worst = Math.max(...r.ratios);
  const cells = [
    r.format.padEnd(11),
    r.shape.padEnd(12),
    r.cache.padEnd(5),
    median(r.seconds.lamina).toFixed(2).padStart(8),
    median(r.seconds.qemu).toFixed(2).padStart(10),
    median(r.ratios).toFixed(2).padStart(5),
    worst.toFixed(2).padStart(5),
    TARGET_RATIO[r.format].toFixed(1).padStart(6),
    median(r.cpu.lamina).toFixed(2).padStart(12),
    median(r.cpu.qemu).toFixed(2).padStart(10),
    r.mib.lamina.toFixed(0).padStart(10),
    r.mib.qemu.toFixed(0).padStart(8),
  ];
  return `| ${cells.join(' | ')} |`;
}

async function measure(
  source: string,
  shape: Shape,
  format: Target,
  cache: Cache,
  dir: string,
): Promise<Row> {
  const row: Row = {
    format,
    shape,
    cache,
    seconds: { lamina: [], qemu: [] },
    cpu: { lamina: [], qemu: [] },
    ratios: [],
    mib: { lamina: 0, qemu: 0 },
  };
  for (let run = 0; run < REPEATS; run++) {
    // Alternate who goes first so neither always meets the machine in the same state.
    const order = run % 2 === 0 ? (['lamina', 'qemu'] as const) : (['qemu', 'lamina'] as const);
    for (const tool of order) {
      const out = path.join(dir, `out.${tool}.${format}`);
      settle();
      loadPrograms(dir, format);
      if (cache === 'warm') await warm(source);
      const measured =
        tool === 'lamina'
          ? measureUntilDurable(LAMINA, ['disk', 'convert', source, out, '--to', format], out, LAMINA_ENV)
          : measureUntilDurable(
              'qemu-img',
              ['convert', '-f', 'raw', ...QEMU_TARGET[format], source, out],
              out,
            );
      row.seconds[tool].push(measured.seconds);
      row.cpu[tool].push(measured.cpuSeconds);
      row.mib[tool] = (statSync(out).blocks * 512) / MIB;
      rmSync(out);
    }
    row.ratios.push(row.seconds.lamina[run] / row.seconds.qemu[run]);
  }
  return row;
}

/**
 * Brings both tools' program files back into memory after the page cache was dropped, by converting
 * a 1 MiB disk to the same format: "cold" is about the disk's data, not the programs. Without it
 * Lamina's run would include reading Node, its modules and the addons from disk (0.5-1 s on a busy
 * machine) against qemu-img's few megabytes, a cost a publish never pays: the worker converts in
 * its own long-running process.
 */
function loadPrograms(dir: string, format: Target): void {
  const tiny = path.join(dir, 'programs.raw');
  const out = path.join(dir, `programs.out.${format}`);
  if (!existsSync(tiny)) {
    const fd = openSync(tiny, 'w');
    writeSync(fd, randomBytes(MIB));
    closeSync(fd);
  }
  execFileSync(LAMINA, ['disk', 'convert', tiny, out, '--to', format], { env: LAMINA_ENV });
  rmSync(out);
  execFileSync('qemu-img', ['convert', '-f', 'raw', ...QEMU_TARGET[format], tiny, out]);
  rmSync(out);
}

async function main(): Promise<void> {
  const shapes = pick('LAMINA_BENCH_SHAPES', SHAPES);
  const formats = pick('LAMINA_BENCH_FORMATS', Object.keys(QEMU_TARGET) as Target[]);
  const caches = pick('LAMINA_BENCH_CACHE', CACHES);
  const dir = mkdtempSync(path.join(process.env.LAMINA_BENCH_DIR ?? tmpdir(), 'lamina-bench-disk-'));
  const loadAtStart = loadavg()[0];
  const rows: Row[] = [];
  try {
    for (const shape of shapes) {
      if (shape === 'real-files' && realFilesMissing()) {
        console.error(`real-files left out: ${realFilesMissing()}`);
        continue;
      }
      const source = sourceFor(shape, dir);
      for (const format of formats) {
        for (const cache of caches) {
          rows.push(await measure(source, shape, format, cache, dir));
          console.error(formatRow(rows[rows.length - 1]));
        }
      }
      if (!process.env.LAMINA_BENCH_INPUTS) rmSync(source);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nLamina vs qemu-img convert: ${SIZE / GIB} GiB sparse raw, median of ${REPEATS} runs each; ` +
      `1-minute load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end\n`,
  );
  console.log(
    '| format      | data         | cache | Lamina s | qemu-img s | ratio | worst | target | Lamina CPU s | qemu CPU s | Lamina MiB | qemu MiB |',
  );
  console.log(
    '|-------------|--------------|-------|----------|------------|-------|-------|--------|--------------|------------|------------|----------|',
  );
  for (const row of rows) console.log(formatRow(row));
  const missed = rows.filter((r) => median(r.ratios) > TARGET_RATIO[r.format]).length;
  if (missed > 0) console.log(`\n${missed} row(s) above the target ratio.`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
