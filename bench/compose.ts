import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HIVE_NAMES } from '../registry';
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
 * `qemu-img convert` of that raw to the same format. BENCH_SCALE=0.25 shrinks every size;
 * BENCH_DIR picks the scratch folder, BENCH_KEEP=1 keeps it.
 */

const SCALE = Number(process.env.BENCH_SCALE ?? '1');
const FORMATS = ['vhdx', 'vmdk-stream'] as const;

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

async function makeInputs(dir: string): Promise<{ os: string; apps: string[]; platform: string }> {
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

interface Measured {
  seconds: number;
  peakRssMiB: number;
}

/** Runs a command under /usr/bin/time: wall seconds and peak RSS (largest of the process tree's members). */
function measure(command: string, args: string[]): Measured {
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * MiB,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  return { seconds, peakRssMiB: Number(lines[lines.length - 1]) / 1024 };
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
  try {
    process.stdout.write(`making inputs (scale ${SCALE}) in ${dir}…\n`);
    const inputs = await makeInputs(dir);
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
      const compose = measure(process.execPath, [
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
        path.join(dir, 'report.json'),
      ]);
      phaseRows.push(`${format}: ${phaseTotals(path.join(dir, 'report.json'))}`);

      // The peers: a raw file holding the same allocated bytes, copied and converted. Each
      // output is removed as soon as it is measured, to keep the scratch space to two images.
      const raw = path.join(dir, 'image.raw');
      execFileSync('qemu-img', ['convert', '-O', 'raw', out, raw]);
      await fs.rm(out);
      const allocated = allocatedBytes(raw);
      const copy = path.join(dir, 'copy.raw');
      const cp = measure('cp', ['--sparse=always', raw, copy]);
      await fs.rm(copy);
      const converted = path.join(dir, `qemu.${format}`);
      const qemu = measure('qemu-img', [
        'convert',
        '-O',
        format === 'vmdk-stream' ? 'vmdk' : format,
        ...(format === 'vmdk-stream' ? ['-o', 'subformat=streamOptimized'] : []),
        raw,
        converted,
      ]);
      await Promise.all([raw, converted].map((file) => fs.rm(file)));

      const mibs = allocated / MiB / compose.seconds;
      rows.push(
        `| ${format} | ${(allocated / GiB).toFixed(2)} GiB | ${compose.seconds.toFixed(1)} s | ${mibs.toFixed(0)} MiB/s | ${compose.peakRssMiB.toFixed(0)} MiB | ` +
          `${cp.seconds.toFixed(1)} s | ${(compose.seconds / cp.seconds).toFixed(2)} | ${qemu.seconds.toFixed(1)} s | ${(compose.seconds / qemu.seconds).toFixed(2)} |`,
      );
    }
    process.stdout.write(
      [
        `\nlamina compose: 1 OS + 10 apps + platform → ${imageGib} GiB UEFI image (scale ${SCALE})`,
        '',
        '| format | allocated | compose | throughput | peak RSS | cp --sparse | compose/cp | qemu-img convert | compose/qemu-img |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        'Where compose spends its time (seconds summed per phase; layers open in parallel):',
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
