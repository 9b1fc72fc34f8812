/**
 * `npm run bench:disk`: converts a sparse raw disk (a quarter of it data, in 1 MiB pieces at
 * random places) to every format with Lamina's CLI and with `qemu-img convert`, alternating
 * between them, and prints the median times and the ratio Lamina/qemu-img per format. One source
 * holds random data, the other compressible text, which matters for vmdk-stream.
 *
 * LAMINA_BENCH_DISK_GIB (default 8) sets the disk size, LAMINA_BENCH_REPEATS (default 3) the
 * runs per tool, LAMINA_BENCH_DIR the scratch folder (default: the system temp folder).
 * Each run is timed until its output is on disk (Lamina fsyncs; qemu-img's output gets a `sync`)
 * and starts from the same state: nothing to write back, nothing cached (see durable.ts).
 */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DiskFormat } from '../disk/types';
import { measureUntilDurable, settle } from './durable';
import { median } from './median';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const SIZE = Number(process.env.LAMINA_BENCH_DISK_GIB ?? 8) * GIB;
const REPEATS = Number(process.env.LAMINA_BENCH_REPEATS ?? 3);
const LAMINA = path.join(__dirname, '..', '..', 'bin', 'lamina');

const QEMU_TARGET: Record<Exclude<DiskFormat, 'raw'>, string[]> = {
  vhd: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'],
  'vhd-fixed': ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'],
  vhdx: ['-O', 'vhdx'],
  vmdk: ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'],
  'vmdk-stream': ['-O', 'vmdk', '-o', 'subformat=streamOptimized'],
};
/** Targets from the issue: qemu-img deflates streamOptimized on one core, Lamina on all. */
const TARGET_RATIO: Record<string, number> = { vhd: 1, 'vhd-fixed': 1, vhdx: 1, vmdk: 1, 'vmdk-stream': 0.5 };

/** A small deterministic PRNG so both sources put data at the same places on every run. */
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

function makeSource(file: string, kind: 'random' | 'compressible'): void {
  const slots = SIZE / MIB;
  const pieces = slots / 4;
  const random = lcg(42);
  const chosen = new Set<number>();
  while (chosen.size < pieces) chosen.add(Math.floor(random() * slots));
  const fd = openSync(file, 'w');
  ftruncateSync(fd, SIZE);
  for (const slot of [...chosen].sort((a, b) => a - b)) {
    const data = kind === 'random' ? randomBytes(MIB) : compressibleMiB(slot);
    writeSync(fd, data, 0, MIB, slot * MIB);
  }
  // A source disk normally sits on disk already; flushing it keeps writeback of the fresh
  // source out of whichever conversion happens to run first.
  fsyncSync(fd);
  closeSync(fd);
}

function main(): void {
  const dir = mkdtempSync(path.join(process.env.LAMINA_BENCH_DIR ?? tmpdir(), 'lamina-bench-disk-'));
  const rows: string[] = [];
  let missed = 0;
  try {
    for (const kind of ['random', 'compressible'] as const) {
      const source = path.join(dir, `${kind}.raw`);
      makeSource(source, kind);
      for (const format of Object.keys(QEMU_TARGET) as (keyof typeof QEMU_TARGET)[]) {
        const lamina: number[] = [];
        const qemu: number[] = [];
        const sizes = { lamina: 0, qemu: 0 };
        for (let run = 0; run < REPEATS; run++) {
          // Alternate who goes first so neither always gets the warmer page cache.
          const order = run % 2 === 0 ? (['lamina', 'qemu'] as const) : (['qemu', 'lamina'] as const);
          for (const tool of order) {
            const out = path.join(dir, `out.${tool}.${format}`);
            settle();
            if (tool === 'lamina')
              lamina.push(
                measureUntilDurable(LAMINA, ['disk', 'convert', source, out, '--to', format], out).seconds,
              );
            else
              qemu.push(
                measureUntilDurable(
                  'qemu-img',
                  ['convert', '-f', 'raw', ...QEMU_TARGET[format], source, out],
                  out,
                ).seconds,
              );
            sizes[tool] = statSync(out).blocks * 512;
            rmSync(out);
          }
        }
        const ratio = median(lamina) / median(qemu);
        if (ratio > TARGET_RATIO[format]) missed++;
        rows.push(
          `| ${format.padEnd(11)} | ${kind.padEnd(12)} | ${median(lamina).toFixed(2).padStart(9)} | ${median(qemu).toFixed(2).padStart(10)} | ${ratio.toFixed(2).padStart(5)} | ${TARGET_RATIO[format].toFixed(1)} | ${(sizes.lamina / MIB).toFixed(0).padStart(6)} | ${(sizes.qemu / MIB).toFixed(0).padStart(6)} |`,
        );
        console.error(rows[rows.length - 1]);
      }
      rmSync(source);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nLamina vs qemu-img convert: ${SIZE / GIB} GiB sparse raw, ${SIZE / GIB / 4} GiB data, median of ${REPEATS} runs each, seconds\n`,
  );
  console.log(
    '| format      | data         | Lamina s  | qemu-img s | ratio | target | Lamina MiB | qemu MiB |',
  );
  console.log('|-------------|--------------|-----------|------------|-------|--------|--------|--------|');
  for (const row of rows) console.log(row);
  if (missed > 0) console.log(`\n${missed} row(s) above the target ratio.`);
}

main();
