import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { freePort } from '../lib/processes';
import { deriveChapCredentials, LayerTargets, RawExportCache } from '../iscsi';
import { measureUntilDurable, settle, type Measured } from './durable';
import { median } from './median';
import { benchVsphereOffloadBytes } from './offload-vsphere';

/**
 * The compose part of `npm run bench:offload` (issue 17 §5): the same template composed by `lamina
 * compose` from the layer files (the appliance's local compose) and from LUNs of the appliance's iSCSI
 * target (tgtd, as a Compositing Engine reads them, through lamina_ntfs's libiscsi initiator),
 * alternating within BENCH_ROUNDS rounds (default 5), caches dropped before each; medians and their
 * ratio (target ≤ 1.3). The offloaded side is also given with the making of its target added: with the
 * export cache cold (the layers converted to raw first: once per layer version) and warm (every later
 * publish of those versions). The template: a synthetic OS layer and an app layer of BENCH_APP_MIB
 * (default 512) MiB of incompressible files, into a BENCH_IMAGE_GIB (default 8) GiB UEFI vhdx. Then the
 * bytes a vSphere offloaded publish of it sends (offload-vsphere.ts).
 */

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '5');
const APP_MIB = Number(process.env.BENCH_APP_MIB ?? '512');
const IMAGE_GIB = Number(process.env.BENCH_IMAGE_GIB ?? '8');
const INITIATOR = 'iqn.2024-01.org.lamina-appliance.bench:ce';

function lamina(cli: string, ...args: string[]): void {
  execFileSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The bench's template: an OS layer and an app layer, as VHDX layer files. */
export interface BenchTemplate {
  os: string;
  app: string;
}

export async function makeTemplate(dir: string, cli: string): Promise<BenchTemplate> {
  const gold = path.join(dir, 'gold.raw');
  lamina(cli, 'dev', 'gold-image', '--out', gold, '--firmware', 'uefi', '--size-gib', '2');
  const os = path.join(dir, 'os.vhdx');
  lamina(cli, 'layer', 'import-os', gold, '--name', 'BenchOS', '--out', os);
  await fs.rm(gold);
  const source = path.join(dir, 'app-files');
  const files = Math.max(1, APP_MIB / 4);
  for (let i = 0; i < files; i++) {
    const folder = path.join(source, 'Program Files', 'Bench', `dir${Math.floor(i / 50)}`);
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, `file${i}.bin`), randomBytes(4 * 2 ** 20));
  }
  const app = path.join(dir, 'app.vhdx');
  lamina(
    cli,
    'layer',
    'build',
    '--type',
    'app',
    '--name',
    'BenchApp',
    '--os',
    os,
    '--from',
    source,
    '--out',
    app,
  );
  await fs.rm(source, { recursive: true });
  return { os, app };
}

function sha256(file: string): string {
  return execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
}

/** Runs the compose section in `dir` (made if missing; the caller removes it); answers its report lines. */
export async function benchOffloadedCompose(dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const cli = path.join(__dirname, '..', '..', 'bin', 'lamina');
  const { os, app } = await makeTemplate(dir, cli);
  const port = await freePort();
  const targets = new LayerTargets(
    { portal: { host: '127.0.0.1', port }, controlPort: port % 32768, stateDir: path.join(dir, 'tgtd') },
    new RawExportCache(path.join(dir, 'exports'), 64 * 2 ** 30),
  );
  const chap = deriveChapCredentials(randomBytes(32), 'bench-offload', 'initiator');
  const layers = [
    { path: os, sha256: sha256(os), label: 'os' },
    { path: app, sha256: sha256(app), label: 'app' },
  ];
  /** Seconds to make a target of the template's layers (the first one fills the export cache). */
  const makeTarget = async (name: string) => {
    settle();
    const started = process.hrtime.bigint();
    const made = await targets.create({
      name,
      layers,
      initiatorName: INITIATOR,
      // Its own account: tgtd binds an account to one target.
      chap: name === 'bench-offload' ? chap : deriveChapCredentials(randomBytes(32), name, 'initiator'),
    });
    return { target: made, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
  };
  try {
    const cold = await makeTarget('bench-offload');
    const { target } = cold;
    const warm = await makeTarget('bench-offload-warm');
    await targets.remove('bench-offload-warm');
    const lun = (n: number) => `iscsi://127.0.0.1:${port}/${target.iqn}/${n}`;
    const out = path.join(dir, 'image.vhdx');
    const image = ['--size-gib', String(IMAGE_GIB), '--firmware', 'uefi', '--format', 'vhdx', '--out', out];
    // The CHAP secret reaches the core through the environment, as in an engine.
    process.env.LAMINA_ISCSI_INITIATOR = INITIATOR;
    process.env.LAMINA_ISCSI_CHAP_USER = chap.user;
    process.env.LAMINA_ISCSI_CHAP_SECRET = chap.secret;
    const local: Measured[] = [];
    const offloaded: Measured[] = [];
    const hashes = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      settle();
      local.push(
        measureUntilDurable(process.execPath, [cli, 'compose', '--os', os, '--app', app, ...image], out),
      );
      hashes.add(sha256(out));
      await fs.rm(out);
      settle();
      offloaded.push(
        measureUntilDurable(
          process.execPath,
          [cli, 'compose', '--os', lun(1), '--app', lun(2), ...image],
          out,
        ),
      );
      hashes.add(sha256(out));
      await fs.rm(out);
    }
    if (hashes.size !== 1) throw new Error('the compose from LUNs wrote other bytes than the local compose');
    const l = median(local.map((m) => m.seconds));
    const o = median(offloaded.map((m) => m.seconds));
    const withTarget = (made: { seconds: number }) => o + made.seconds;
    return [
      `Offloaded compose (OS layer + ${APP_MIB} MiB app layer → ${IMAGE_GIB} GiB vhdx, median of ${ROUNDS}, cold page cache, load average ${loadavg()[0].toFixed(1)}):`,
      '',
      '| compose | seconds | CPU s | ratio to local |',
      '|---|---|---|---|',
      `| local (layer files) | ${l.toFixed(2)} | ${median(local.map((m) => m.cpuSeconds)).toFixed(2)} | 1.00 |`,
      `| offloaded (LUNs over iSCSI, tgtd) | ${o.toFixed(2)} | ${median(offloaded.map((m) => m.cpuSeconds)).toFixed(2)} | ${(o / l).toFixed(2)} |`,
      `| offloaded + its target, export cache warm (${warm.seconds.toFixed(2)} s) | ${withTarget(warm).toFixed(2)} | | ${(withTarget(warm) / l).toFixed(2)} (target ≤ 1.30) |`,
      `| offloaded + its target, export cache cold (${cold.seconds.toFixed(2)} s) | ${withTarget(cold).toFixed(2)} | | ${(withTarget(cold) / l).toFixed(2)} |`,
      '',
      ...(await benchVsphereOffloadBytes(path.join(dir, 'vsphere'), cli, { os, app }, IMAGE_GIB)),
    ];
  } finally {
    await targets.close();
  }
}
