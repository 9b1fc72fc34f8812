import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  isAlive,
  isPortOpen,
  processRecord,
  readPidFile,
  stopChild,
  stopRecordedProcess,
  waitFor,
  writePidFile,
} from '../lib/processes';
import { Tgtadm } from './tgtadm';

/**
 * tgtd allocates each command's data buffer (valloc) and frees it when the command is done. With
 * glibc's defaults a 512 KiB buffer is a fresh mmap, or heap the next free trims away: either way every
 * READ faulted its 128 pages in anew, which on a VM whose host takes idle memory back was a third of
 * tgtd's CPU time. Buffers up to 32 MiB come from the heap, and the heap keeps what it had.
 */
const TGTD_MALLOC = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824';

/** Where initiators connect: iSCSI's registered port is 3260. */
export interface Portal {
  host: string;
  port: number;
}

export interface TargetDaemonOptions {
  portal: Portal;
  /**
   * tgtd's management channel (`tgtd -C`, /var/run/tgtd/socket.<n>). Each tgtd on a machine needs its
   * own, or tgtadm calls meant for one reach another (tests and a running appliance side by side).
   */
  controlPort: number;
  /** Holds tgtd.log and tgtd.pid (the daemon's pid and start time, so a later start finds one a killed run left). */
  stateDir: string;
}

export interface TargetDaemon {
  portal: Portal;
  tgtadm: Tgtadm;
  /** Settles when the daemon exits, for whatever reason. */
  exited: Promise<void>;
  /** Deletes every target (dropping their sessions), then ends the daemon. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's tgtd in the foreground as a child, leading a process group of its own: a terminal's
 * Ctrl-C then reaches only its starter, which tears its targets down before ending it. tgtd ignores
 * SIGTERM while it has targets, so stopping goes through tgtadm: delete every target, then the system.
 * A tgtd that a killed run left under the same state folder is ended first.
 */
export async function startTargetDaemon(options: TargetDaemonOptions): Promise<TargetDaemon> {
  fs.mkdirSync(options.stateDir, { recursive: true });
  const pidFile = path.join(options.stateDir, 'tgtd.pid');
  const tgtadm = new Tgtadm(options.controlPort);
  await stopLeftover(pidFile, tgtadm);

  const { host, port } = options.portal;
  if (await isPortOpen(port, host === '0.0.0.0' ? '127.0.0.1' : host)) {
    throw new Error(
      `iSCSI port ${port} is already in use (another iSCSI target, such as the system's tgt service?); ` +
        'stop it or choose another port (LAMINA_ISCSI_PORT, or --port)',
    );
  }
  // tgtd opens this lock and socket; a stale socket file is fine, it is replaced.
  fs.mkdirSync('/var/run/tgtd', { recursive: true });
  const logFile = path.join(options.stateDir, 'tgtd.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    'tgtd',
    ['-f', '-C', String(options.controlPort), '--iscsi', `portal=${host}:${port}`],
    { stdio: ['ignore', log, log], detached: true, env: { ...process.env, GLIBC_TUNABLES: TGTD_MALLOC } },
  );
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start tgtd: ${err.message}; run scripts/setup`))),
  );
  const record = child.pid === undefined ? undefined : processRecord(child.pid);
  if (record) writePidFile(pidFile, record);
  try {
    await Promise.race([
      spawnError,
      waitFor(
        `tgtd (iSCSI portal ${host}:${port}, control port ${options.controlPort})`,
        async () =>
          (await isPortOpen(port, host === '0.0.0.0' ? '127.0.0.1' : host)) && (await answers(tgtadm)),
        { timeoutMs: 20_000, child, log: () => fs.readFileSync(logFile, 'utf8') },
      ),
    ]);
  } catch (err) {
    await stopChild(child, 2_000, { group: true });
    fs.rmSync(pidFile, { force: true });
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    portal: options.portal,
    tgtadm,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        await shutDown(tgtadm, child);
        fs.rmSync(pidFile, { force: true });
      })()),
  };
}

async function answers(tgtadm: Tgtadm): Promise<boolean> {
  try {
    await tgtadm.targets();
    return true;
  } catch {
    return false;
  }
}

async function shutDown(tgtadm: Tgtadm, child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (const target of await tgtadm.targets()) await tgtadm.deleteTarget(target.tid);
    await tgtadm.deleteSystem();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
  } finally {
    // Not ended through tgtadm (it did not answer, or is hung): SIGKILL, since SIGTERM it may ignore.
    if (child.exitCode === null && child.signalCode === null) await stopChild(child, 0, { group: true });
  }
}

/**
 * Ends the tgtd a run killed before its teardown left under `stateDir` (its targets with it: their tasks
 * recreate them when they retry). Answers whether there was one.
 */
export function stopLeftoverTargetDaemon(
  options: Pick<TargetDaemonOptions, 'stateDir' | 'controlPort'>,
): Promise<boolean> {
  return stopLeftover(path.join(options.stateDir, 'tgtd.pid'), new Tgtadm(options.controlPort));
}

async function stopLeftover(pidFile: string, tgtadm: Tgtadm): Promise<boolean> {
  const record = readPidFile(pidFile);
  if (!record || !isAlive(record)) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  try {
    for (const target of await tgtadm.targets()) await tgtadm.deleteTarget(target.tid);
    await tgtadm.deleteSystem();
  } catch {
    // It may listen on another control port than this start's, or not answer: the signals below end it.
  }
  await stopRecordedProcess(pidFile, 5_000);
  return true;
}
