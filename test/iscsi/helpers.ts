import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../lib/processes';
import { LayerTargets, RawExportCache, type ChapCredentials } from '../../iscsi';
import { makeRaw, MIB, qemuConvert, type Region } from '../disk/helpers';

export const INITIATOR = 'iqn.2024-01.org.lamina-appliance.test:ce';

/** A layer disk as the repository holds one: a dynamic VHDX (made by qemu-img) and its SHA-256. */
export interface TestLayer {
  path: string;
  sha256: string;
  label: string;
}

export function makeLayer(dir: string, label: string, sizeBytes: number, regions: Region[]): TestLayer {
  const raw = path.join(dir, `${label}.raw`);
  const vhdx = path.join(dir, `${label}.vhdx`);
  makeRaw(raw, sizeBytes, regions);
  qemuConvert(raw, 'vhdx', vhdx);
  fs.rmSync(raw);
  return { path: vhdx, sha256: sha256(vhdx), label };
}

export function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * A control port (tgtd -C, 0-32767) that follows from a free portal port: the kernel hands out ports
 * from 32768 up, each to one holder at a time, so test files running side by side get distinct ones and
 * never reach each other's daemon (nor the system's tgtd on 0).
 */
export function controlPortFor(portalPort: number): number {
  return (portalPort % 32767) + 1;
}

/** A LayerTargets with a tgtd of its own on a free portal port. */
export async function testTargets(dir: string, cacheMaxBytes = 1024 * MIB) {
  const port = await freePort();
  const controlPort = controlPortFor(port);
  const cache = new RawExportCache(path.join(dir, 'exports'), cacheMaxBytes);
  const targets = new LayerTargets(
    { portal: { host: '127.0.0.1', port }, controlPort, stateDir: dir },
    cache,
  );
  return { port, controlPort, cache, targets };
}

/** What `tgtadm --op show --mode target` lists on control port `controlPort` ('' when no tgtd answers). */
export function tgtadmShow(controlPort: number): string {
  const result = spawnSync(
    'tgtadm',
    ['-C', String(controlPort), '--lld', 'iscsi', '--op', 'show', '--mode', 'target'],
    {
      encoding: 'utf8',
    },
  );
  return result.status === 0 ? result.stdout : '';
}

/**
 * Runs a libiscsi tool (iscsi-test-cu, iscsi-inq) as `initiator` against iscsi://127.0.0.1:port/iqn/lun.
 * The CHAP credentials go through libiscsi's environment variables, not the command line.
 */
export function libiscsi(
  tool: 'iscsi-test-cu' | 'iscsi-inq',
  args: string[],
  target: { port: number; iqn: string; lun: number },
  chap: ChapCredentials,
  options: { initiator?: string; targetChap?: ChapCredentials } = {},
): { status: number; output: string } {
  const mutual = options.targetChap
    ? {
        LIBISCSI_CHAP_TARGET_USERNAME: options.targetChap.user,
        LIBISCSI_CHAP_TARGET_PASSWORD: options.targetChap.secret,
      }
    : {};
  const result = spawnSync(
    tool,
    [
      ...args,
      '-i',
      options.initiator ?? INITIATOR,
      `iscsi://127.0.0.1:${target.port}/${target.iqn}/${target.lun}`,
    ],
    {
      encoding: 'utf8',
      timeout: 300_000,
      env: {
        ...process.env,
        LIBISCSI_CHAP_USERNAME: chap.user,
        LIBISCSI_CHAP_PASSWORD: chap.secret,
        ...mutual,
      },
    },
  );
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/**
 * Runs qemu-img with a LUN as an --image-opts image (qemu's iscsi driver, qemu-block-extra). The CHAP
 * secret reaches qemu through a secret object read from a file, never the command line.
 */
function qemuImgOnLun(
  dir: string,
  target: { port: number; iqn: string; lun: number },
  chap: ChapCredentials,
  args: (lun: string) => string[],
): { status: number; output: string; stdout: string } {
  const secretFile = path.join(dir, 'chap-secret');
  fs.writeFileSync(secretFile, chap.secret, { mode: 0o600 });
  try {
    const lun = [
      'driver=iscsi',
      'transport=tcp',
      `portal=127.0.0.1:${target.port}`,
      `target=${target.iqn}`,
      `lun=${target.lun}`,
      `user=${chap.user}`,
      'password-secret=chap',
      `initiator-name=${INITIATOR}`,
    ].join(',');
    const [command, ...rest] = args(lun);
    const result = spawnSync(
      'qemu-img',
      [command, '--object', `secret,id=chap,file=${secretFile}`, ...rest],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}`, stdout: result.stdout };
  } finally {
    fs.rmSync(secretFile, { force: true });
  }
}

/** `qemu-img compare` of a LUN against a layer's virtual disk. */
export function qemuCompareLun(
  dir: string,
  target: { port: number; iqn: string; lun: number },
  chap: ChapCredentials,
  layerVhdx: string,
): { status: number; output: string } {
  const { status, output } = qemuImgOnLun(dir, target, chap, (lun) => [
    'compare',
    '--image-opts',
    `driver=vhdx,file.driver=file,file.filename=${layerVhdx}`,
    lun,
  ]);
  return { status, output };
}

/** `qemu-img map` of a LUN: which ranges the target reports as data. */
export function qemuMapLun(
  dir: string,
  target: { port: number; iqn: string; lun: number },
  chap: ChapCredentials,
): { start: number; length: number; data: boolean }[] {
  const result = qemuImgOnLun(dir, target, chap, (lun) => ['map', '--output=json', '--image-opts', lun]);
  if (result.status !== 0) throw new Error(`qemu-img map failed: ${result.output}`);
  return JSON.parse(result.stdout) as { start: number; length: number; data: boolean }[];
}

/** The counts of iscsi-test-cu's "Run Summary" tests line. */
export function cunitSummary(output: string): { total: number; ran: number; passed: number; failed: number } {
  const line = /^\s*tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(output);
  if (!line) throw new Error(`no CUnit summary in iscsi-test-cu output:\n${output}`);
  const [total, ran, passed, failed] = line.slice(1).map(Number);
  return { total, ran, passed, failed };
}
