import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { writeDisk } from '../compositor/disk-image';
import { GiB, MiB, planDisk } from '../compositor/disk-layout';
import { makeGoldImage } from '../compositor/gold-image';
import { importOsLayer } from '../compositor/import-os';
import { applyToVolume } from '../compositor/volume';
import type { VolumeOperation } from '../compositor/volume-operations';
import { extractWindowsPartition } from '../compositor/disk-image';
import { openDisk } from '../disk';
import { measureUntilDurable, settle, type Measured } from './durable';
import { median } from './median';

/**
 * npm run bench:capture — capture by difference at the issue's scale: a 60 GiB Windows volume with
 * 250,000 files (BASE), the same disk after an install that wrote 2 GiB (AFTER: 2 GiB of new files,
 * 1,000 files rewritten, 1,000 deleted, registry values added), captured into an app layer with
 * `lamina layer capture`. Against the same run's `cp` of a file holding the 2 GiB the install
 * wrote: what any capture must at least read and write. The two alternate within each of
 * BENCH_ROUNDS rounds (default 3), from a dropped page cache, each timed until its output is on
 * disk (durable.ts); the medians are reported. Each round also captures AFTER as a hypervisor leaves
 * it, a child of BASE (a VMDK child holding the grains the install changed, written by qemu-io),
 * whose block map narrows the MFT records compared. BENCH_SCALE=0.1 shrinks the file count, the bytes
 * and the volume; BENCH_DIR picks the scratch folder, BENCH_KEEP=1 keeps it; BENCH_INPUTS=DIR keeps
 * the disks in DIR and reuses them when a later run finds them there.
 *
 * BASE's files hold 4 GiB (16 KiB each on average): capture reads records and changed files only,
 * so the bytes of unchanged files do not enter its time, and smaller ones keep making BASE short.
 */

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const FILES = Math.round(250_000 * SCALE);
const BASE_BYTES = 4 * GiB * SCALE;
const CHANGED_BYTES = 2 * GiB * SCALE;
const VOLUME_GIB = Math.max(2, Math.round(60 * SCALE));
const NEW_FILE = MiB;
const TOUCHED = Math.round(1000 * SCALE);

/** Incompressible content (like installed binaries), cut from one pool so generating it is cheap. */
const POOL = randomBytes(64 * MiB);

function slice(i: number, size: number): Buffer {
  const start = (i * 7919 * 4096) % (POOL.length - size);
  return POOL.subarray(start, start + size);
}

/** BASE's files: 1,000 per folder, sizes spread from 0 to 32 KiB around the average. */
function* baseFiles(): Generator<VolumeOperation> {
  const average = Math.floor(BASE_BYTES / FILES);
  for (let i = 0; i < FILES; i++) {
    yield {
      op: 'file',
      path: `\\Windows\\WinSxS\\c${Math.floor(i / 1000)}\\f${i}.dll`,
      content: slice(i, (i * 2654435761) % (2 * average)),
    };
  }
}

/** The install: new files (the changed bytes), rewritten and deleted existing ones. */
function* installFiles(): Generator<VolumeOperation> {
  const count = Math.round((CHANGED_BYTES - TOUCHED * 16 * 1024) / NEW_FILE);
  for (let i = 0; i < count; i++)
    yield {
      op: 'file',
      path: `\\Program Files\\Bench\\m${Math.floor(i / 100)}\\b${i}.bin`,
      content: slice(i + 1, NEW_FILE),
    };
  const stride = Math.floor(FILES / TOUCHED / 2);
  for (let t = 0; t < TOUCHED; t++) {
    const rewritten = 2 * t * stride;
    yield {
      op: 'file',
      path: `\\Windows\\WinSxS\\c${Math.floor(rewritten / 1000)}\\f${rewritten}.dll`,
      content: slice(t + 7, 16 * 1024),
    };
    const deleted = rewritten + stride;
    yield { op: 'delete', path: `\\Windows\\WinSxS\\c${Math.floor(deleted / 1000)}\\f${deleted}.dll` };
  }
}

/** The bytes the install wrote, as one plain file: what `cp` copies. */
async function writeChangedBytes(file: string): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  for (const op of installFiles()) {
    if (op.op !== 'file' || !Buffer.isBuffer(op.content)) continue;
    bytes += op.content.length;
    if (!out.write(op.content)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return bytes;
}

/** Bytes compared at a time, a VMDK grain: a child holds whole grains. */
const GRAIN = 64 * 1024;
/** Bytes one qemu-io write takes at most, and writes per qemu-io run. */
const WRITE_PIECE = 64 * MiB;
const WRITES_PER_RUN = 200;

/**
 * The disk after the install as a hypervisor leaves it: a VMDK child of BASE (converted to VMDK)
 * holding the grains in which AFTER differs from BASE, written by qemu-io into the child
 * `qemu-img create -b` made.
 */
async function makeChild(dir: string, base: string, after: string) {
  const baseVmdk = path.join(dir, 'base.vmdk');
  execFileSync('qemu-img', ['convert', '-O', 'vmdk', base, baseVmdk]);
  const child = path.join(dir, 'after-child.vmdk');
  execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', child]);
  const [before, now] = [await openDisk(base), await openDisk(after)];
  const writes: string[] = [];
  const flush = () => {
    if (writes.length > 0)
      execFileSync('qemu-io', ['-f', 'vmdk', ...writes.flatMap((w) => ['-c', w]), child]);
    writes.length = 0;
  };
  const a = Buffer.alloc(WRITE_PIECE);
  const b = Buffer.alloc(WRITE_PIECE);
  let piece = 0;
  try {
    for (const extent of now.extents()) {
      for (let at = extent.offset; at < extent.offset + extent.length; at += WRITE_PIECE) {
        const length = Math.min(WRITE_PIECE, extent.offset + extent.length - at);
        await before.read(a.subarray(0, length), at);
        await now.read(b.subarray(0, length), at);
        // The grains that differ, in runs, each written from a file of AFTER's bytes.
        for (let g = 0; g < length; g += GRAIN) {
          if (a.subarray(g, g + GRAIN).equals(b.subarray(g, g + GRAIN))) continue;
          let end = g + GRAIN;
          while (end < length && !a.subarray(end, end + GRAIN).equals(b.subarray(end, end + GRAIN)))
            end += GRAIN;
          const file = path.join(dir, `piece-${piece++ % WRITES_PER_RUN}.bin`);
          await fs.writeFile(file, b.subarray(g, Math.min(end, length)));
          writes.push(`write -q -s ${file} ${at + g} ${Math.min(end, length) - g}`);
          if (writes.length === WRITES_PER_RUN) flush();
          g = end - GRAIN;
        }
      }
    }
    flush();
  } finally {
    await before.close();
    await now.close();
    for (let i = 0; i < Math.min(piece, WRITES_PER_RUN); i++) await fs.rm(path.join(dir, `piece-${i}.bin`));
  }
  return { baseVmdk, child };
}

async function makeInputs(
  dir: string,
): Promise<{ os: string; base: string; after: string; changed: string; baseVmdk: string; child: string }> {
  const size = VOLUME_GIB * GiB;
  const gold = path.join(dir, 'gold.vhdx');
  const seed = 'lamina-bench-capture';
  process.stdout.write(`making a ${VOLUME_GIB} GiB volume with ${FILES} files in ${dir}…\n`);
  await makeGoldImage({ out: gold, firmware: 'bios', size, format: 'vhdx' });
  const volume = path.join(dir, 'base.ntfs');
  await extractWindowsPartition(gold, volume);
  await applyToVolume(volume, baseFiles());
  const layout = planDisk('bios', size, seed);
  const base = path.join(dir, 'base.vhdx');
  await writeDisk(layout, { windows: volume }, 'vhdx', base, { identity: seed });
  const os = path.join(dir, 'os.vhdx');
  await importOsLayer({ vmDisk: base, name: 'BenchOS', version: '1', out: os });

  process.stdout.write('installing into a copy…\n');
  execFileSync('cp', ['--sparse=always', volume, path.join(dir, 'after.ntfs')]);
  await fs.rm(volume);
  const afterVolume = path.join(dir, 'after.ntfs');
  await applyToVolume(afterVolume, installFiles());
  const after = path.join(dir, 'after.vhdx');
  await writeDisk(layout, { windows: afterVolume }, 'vhdx', after, { identity: seed });
  process.stdout.write('writing the changed grains into a child of BASE…\n');
  await fs.rm(afterVolume);
  const { baseVmdk, child } = await makeChild(dir, base, after);
  await fs.rm(gold);
  const changed = path.join(dir, 'changed.bin');
  await writeChangedBytes(changed);
  return { os, base, after, changed, baseVmdk, child };
}

type Inputs = Awaited<ReturnType<typeof makeInputs>>;

/** The disks, reused from BENCH_INPUTS when a run at the same scale made them there (making them takes minutes). */
async function inputsIn(scratch: string): Promise<Inputs> {
  const kept = process.env.BENCH_INPUTS;
  if (!kept) return makeInputs(scratch);
  // v3: the inputs include the child disk.
  const dir = path.join(path.resolve(kept), `scale-${SCALE}-v3`);
  const list = path.join(dir, 'inputs.json');
  const found = await fs.readFile(list, 'utf8').catch(() => undefined);
  if (found) {
    process.stdout.write(`reusing the disks in ${dir}\n`);
    return JSON.parse(found) as Inputs;
  }
  await fs.mkdir(dir, { recursive: true });
  const inputs = await makeInputs(dir);
  await fs.writeFile(list, JSON.stringify(inputs));
  return inputs;
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'lamina-bench-capture-'));
  const cli = path.join(__dirname, '..', '..', 'bin', 'lamina');
  const loadAtStart = loadavg()[0];
  try {
    const inputs = await inputsIn(dir);
    const changedBytes = (await fs.stat(inputs.changed)).size;
    const out = path.join(dir, 'layer.vhdx');
    const captureOf = (base: string, after: string, report: string): Measured =>
      measureUntilDurable(
        process.execPath,
        [cli, 'layer', 'capture', '--os', inputs.os, '--base', base, '--after', after].concat([
          '--type',
          'app',
          '--name',
          'Bench',
          '--out',
          out,
          '--report',
          report,
        ]),
        out,
      );
    const report = path.join(dir, 'capture.json');
    const childReport = path.join(dir, 'capture-child.json');
    const captures: Measured[] = [];
    const childCaptures: Measured[] = [];
    const copies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      settle();
      captures.push(captureOf(inputs.base, inputs.after, report));
      await fs.rm(out);
      settle();
      childCaptures.push(captureOf(inputs.baseVmdk, inputs.child, childReport));
      await fs.rm(out);
      const copy = path.join(dir, 'copy.bin');
      settle();
      copies.push(measureUntilDurable('cp', [inputs.changed, copy], copy).seconds);
      await fs.rm(copy);
    }
    type Report = {
      captured: { files: number; bytes: number; deletions: string[] };
      timings: { phase: string; seconds: number }[];
      childOfBase: { bytes: number } | null;
      records: { compared: number; records: number };
    };
    const [captured, child] = await Promise.all(
      [report, childReport].map(async (file) => JSON.parse(await fs.readFile(file, 'utf8')) as Report),
    );
    const cp = median(copies);
    const row = (name: string, runs: Measured[], r: Report) => {
      const seconds = median(runs.map((c) => c.seconds));
      const peak = Math.max(...runs.map((c) => c.peakRssMiB));
      const cpu = median(runs.map((c) => c.cpuSeconds));
      const diff = r.timings.find((t) => t.phase === 'diff')?.seconds ?? 0;
      return `| ${name} | ${seconds.toFixed(1)} s | ${diff.toFixed(1)} s | ${r.records.compared} of ${r.records.records} | ${cpu.toFixed(1)} s | ${peak.toFixed(0)} MiB | ${cp.toFixed(1)} s | ${(seconds / cp).toFixed(2)} | ${seconds < 60 ? 'met' : 'not met'} |`;
    };
    process.stdout.write(
      [
        `\nlamina layer capture: ${VOLUME_GIB} GiB volume, ${FILES} files, ${(changedBytes / GiB).toFixed(2)} GiB written by the install (scale ${SCALE}), median of ${ROUNDS} rounds; 1-minute load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`,
        `last capture's steps: ${captured.timings.map((t) => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', ')}; of the child: ${child.timings.map((t) => `${t.phase} ${t.seconds.toFixed(1)} s`).join(', ')}`,
        `captured ${captured.captured.files} files (${(captured.captured.bytes / GiB).toFixed(2)} GiB), ${captured.captured.deletions.length} deletions; from the child ${child.captured.files} files, ${child.captured.deletions.length} deletions, the child holding ${((child.childOfBase?.bytes ?? 0) / GiB).toFixed(2)} GiB of the volume`,
        '',
        '| AFTER | capture | diff step | MFT records compared | CPU | peak RSS | cp of the changed bytes | capture/cp | target < 60 s |',
        '|---|---|---|---|---|---|---|---|---|',
        row('a copy of BASE (vhdx)', captures, captured),
        row('a child of BASE (vmdk)', childCaptures, child),
        '',
      ].join('\n'),
    );
  } finally {
    if (!process.env.BENCH_KEEP) await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
