import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { HIVE_NAMES } from '../registry';
import { measureUntilDurable, settle, type Measured } from './durable';
import { median } from './median';
import { createEmptyHive } from '../registry';
import { MiB, GiB } from '../compositor/disk-layout';
import { goldTree } from '../compositor/gold-image';
import { createLayerDisk } from '../compositor/layer-disk';
import type { LayerMetadata } from '../compositor/layer-metadata';
import { applyToVolume } from '../compositor/volume';
import type { VolumeOperation } from '../compositor/volume-operations';

/**
 * npm run bench:compose — an OS layer (4 GiB, 30k files), 10 app layers (200 MiB, 2k files
 * each) and a platform layer (100 MiB) composed into a 60 GiB image, as vhdx and vmdk-stream.
 * Against the same run's `cp --sparse=always` of a raw file with the same allocated bytes and
 * `qemu-img convert` of that raw to the same format. The three alternate within each of
 * BENCH_ROUNDS rounds (default 3), so a burst of load on the shared machine hits them alike, and
 * the medians are reported. Every time runs until the tool's output is on disk (see durable.ts).
 * BENCH_FORMATS=vhdx picks the formats (default vhdx,vmdk-stream); BENCH_SCALE=0.25 shrinks
 * every size; BENCH_DIR picks the scratch folder, BENCH_KEEP=1 keeps it; BENCH_INPUTS=DIR keeps
 * the layers in DIR and reuses them when a later run finds them there (making them takes minutes).
 */

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const FORMATS = (process.env.BENCH_FORMATS ?? 'vhdx,vmdk-stream').split(',');

/** Incompressible content (like installed binaries), cut from one pool so generating it is cheap. */
const POOL = randomBytes(32 * MiB);

function* bulkFiles(prefix: string, count: number, totalBytes: number): Generator<VolumeOperation> {
  const size = Math.floor(totalBytes / count);
  for (let i = 0; i < count; i++) {
    const start = (i * 7919 * 4096) % (POOL.length - size);
    yield {
      op: 'file',
      path: `${prefix}\\dir${Math.floor(i / 100)}\\file${i}.bin`,
      content: POOL.subarray(start, start + size),
    };
  }
}

async function makeLayer(
  out: string,
  work: string,
  metadata: Omit<LayerMetadata, 'contentHash'>,
  operations: () => Iterable<VolumeOperation>,
  bytes: number,
): Promise<LayerMetadata> {
  const dir = await fs.mkdtemp(path.join(work, 'layer-'));
  try {
    const partitionSize = Math.ceil((bytes * 1.15 + 256 * MiB) / MiB) * MiB;
    return await createLayerDisk(out, dir, partitionSize, {
      write: (partition, hash) => applyToVolume(partition, operations(), { hash }),
      metadata: (contentHash) => ({ ...metadata, contentHash }),
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

interface Inputs {
  os: string;
  apps: string[];
  platform: string;
}

/** The layers, reused from BENCH_INPUTS when a run with the same scale made them there. */
async function inputsIn(scratch: string): Promise<Inputs> {
  const kept = process.env.BENCH_INPUTS;
  if (!kept) return makeInputs(scratch);
  const dir = path.join(path.resolve(kept), `scale-${SCALE}`);
  const list = path.join(dir, 'inputs.json');
  const found = await fs.readFile(list, 'utf8').catch(() => undefined);
  if (found) {
    process.stdout.write(`reusing the layers in ${dir}\n`);
    return JSON.parse(found) as Inputs;
  }
  await fs.mkdir(dir, { recursive: true });
  const inputs = await makeInputs(dir);
  await fs.writeFile(list, JSON.stringify(inputs));
  return inputs;
}

async function makeInputs(dir: string): Promise<Inputs> {
  process.stdout.write(`making inputs (scale ${SCALE}) in ${dir}…\n`);
  const createdAt = '2025-01-01T00:00:00.000Z';
  const hiveDir = await fs.mkdtemp(path.join(dir, 'hives-'));
  const hives = {} as Record<(typeof HIVE_NAMES)[number], Buffer>;
  for (const hive of HIVE_NAMES) {
    await createEmptyHive(path.join(hiveDir, hive), hive);
    hives[hive] = await fs.readFile(path.join(hiveDir, hive));
  }
  const osBytes = 4 * GiB * SCALE;
  const os = path.join(dir, 'os.vhdx');
  const osMetadata = await makeLayer(
    os,
    dir,
    { schema: 1, id: 'bench-os', name: 'BenchOS', type: 'os', version: '1', creationSequence: 0, createdAt },
    function* () {
      yield* goldTree(hives);
      yield* bulkFiles('\\Windows\\WinSxS', Math.round(30000 * SCALE), osBytes);
    },
    osBytes,
  );
  const binding = { id: osMetadata.id, name: osMetadata.name };
  const apps: string[] = [];
  for (let i = 0; i < 10; i++) {
    const out = path.join(dir, `app${i}.vhdx`);
    const bytes = 200 * MiB * SCALE;
    await makeLayer(
      out,
      dir,
      {
        schema: 1,
        id: `bench-app-${i}`,
        name: `App${i}`,
        type: 'app',
        version: '1',
        os: binding,
        creationSequence: 100 + i,
        createdAt,
      },
      () => bulkFiles(`\\Program Files\\App${i}`, Math.round(2000 * SCALE), bytes),
      bytes,
    );
    apps.push(out);
  }
  const platform = path.join(dir, 'platform.vhdx');
  const platformBytes = 100 * MiB * SCALE;
  await makeLayer(
    platform,
    dir,
    {
      schema: 1,
      id: 'bench-platform',
      name: 'Platform',
      type: 'platform',
      version: '1',
      os: binding,
      creationSequence: 1,
      createdAt,
    },
    () => bulkFiles('\\Program Files\\Platform', Math.round(1000 * SCALE), platformBytes),
    platformBytes,
  );
  await fs.rm(hiveDir, { recursive: true });
  return { os, apps, platform };
}

/** The compose report's per-layer timings, summed per phase. */
function phaseTotals(reportFile: string): string {
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
    timings: { phase: string; milliseconds: number }[];
  };
  const totals = new Map<string, number>();
  for (const { phase, milliseconds } of report.timings)
    totals.set(phase, (totals.get(phase) ?? 0) + milliseconds);
  return [...totals].map(([phase, ms]) => `${phase} ${(ms / 1000).toFixed(1)}`).join(', ');
}

function allocatedBytes(file: string): number {
  return Number(execFileSync('du', ['-B1', file], { encoding: 'utf8' }).split('\t')[0]);
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'lamina-bench-compose-'));
  const cli = path.join(__dirname, '..', '..', 'bin', 'lamina');
  const imageGib = Math.max(1, Math.round(60 * SCALE));
  const loadAtStart = loadavg()[0];
  try {
    const inputs = await inputsIn(dir);
    const layerArgs = [
      '--os',
      inputs.os,
      '--platform',
      inputs.platform,
      ...inputs.apps.flatMap((a) => ['--app', a]),
    ];
    const rows: string[] = [];
    const phaseRows: string[] = [];
    for (const format of FORMATS) {
      const out = path.join(dir, `image.${format}`);
      const raw = path.join(dir, 'image.raw');
      const report = path.join(dir, 'report.json');
      const composes: (Measured & { phases: string })[] = [];
      const copies: number[] = [];
      const conversions: number[] = [];
      let allocated = 0;
      for (let round = 0; round < ROUNDS; round++) {
        settle();
        const compose = measureUntilDurable(
          process.execPath,
          [
            cli,
            'compose',
            ...layerArgs,
            '--size-gib',
            String(imageGib),
            '--firmware',
            'uefi',
            '--format',
            format,
            '--out',
            out,
            '--report',
            report,
          ],
          out,
        );
        composes.push({ ...compose, phases: phaseTotals(report) });
        // The peers: a raw file holding the same allocated bytes (the same every round), copied
        // and converted. Each output is removed as soon as it is measured, to keep the scratch
        // space to two images.
        if (round === 0) {
          execFileSync('qemu-img', ['convert', '-O', 'raw', out, raw]);
          allocated = allocatedBytes(raw);
        }
        await fs.rm(out);
        const copy = path.join(dir, 'copy.raw');
        settle();
        copies.push(measureUntilDurable('cp', ['--sparse=always', raw, copy], copy).seconds);
        await fs.rm(copy);
        const converted = path.join(dir, `qemu.${format}`);
        settle();
        conversions.push(
          measureUntilDurable(
            'qemu-img',
            [
              'convert',
              '-O',
              format === 'vmdk-stream' ? 'vmdk' : format,
              ...(format === 'vmdk-stream' ? ['-o', 'subformat=streamOptimized'] : []),
              raw,
              converted,
            ],
            converted,
          ).seconds,
        );
        await fs.rm(converted);
      }
      await fs.rm(raw);

      const seconds = median(composes.map((c) => c.seconds));
      const cp = median(copies);
      const qemu = median(conversions);
      const peakRssMiB = Math.max(...composes.map((c) => c.peakRssMiB));
      const typical = composes.find((c) => c.seconds === seconds) ?? composes[0];
      phaseRows.push(`${format}: ${typical.phases}`);
      rows.push(
        `| ${format} | ${(allocated / GiB).toFixed(2)} GiB | ${seconds.toFixed(1)} s | ${(allocated / MiB / seconds).toFixed(0)} MiB/s | ${peakRssMiB.toFixed(0)} MiB | ` +
          `${cp.toFixed(1)} s | ${(seconds / cp).toFixed(2)} | ${qemu.toFixed(1)} s | ${(seconds / qemu).toFixed(2)} |`,
      );
    }
    process.stdout.write(
      [
        `\nlamina compose: 1 OS + 10 apps + platform → ${imageGib} GiB UEFI image (scale ${SCALE}), median of ${ROUNDS} rounds; 1-minute load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`,
        '',
        '| format | allocated | compose | throughput | peak RSS | cp --sparse | compose/cp | qemu-img convert | compose/qemu-img |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        'Where the median compose spent its time (seconds summed per phase; layers open in parallel):',
        ...phaseRows,
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
