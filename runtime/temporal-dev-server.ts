import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { localToolPath } from '../lib/project-root';
import {
  isPortOpen,
  processRecord,
  stopChild,
  stopRecordedProcess,
  waitFor,
  writePidFile,
} from '../lib/processes';
import { supervise, type SupervisedRun } from '../lib/supervisor';
import { LAMINA_SEARCH_ATTRIBUTES } from './search-attributes';

/**
 * The real Temporal dev server (`temporal server start-dev` from the Temporal CLI), started when no
 * TEMPORAL_ADDRESS is configured. With a database file its history survives restarts.
 */
export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
  /**
   * Settles with the reason when a supervised server keeps dying and supervision gave up; never
   * settles otherwise.
   */
  failed: Promise<Error>;
  /** Stops the server (and any restart under way). */
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  port: number;
  /** Omitted = headless (tests). */
  uiPort?: number;
  /** Where the Web UI decodes encrypted payloads (Lamina's API, api/temporal-codec/); omitted = not shown. */
  uiCodecEndpoint?: string;
  namespace: string;
  /** SQLite file for persistent history; omitted = in memory (tests). */
  dbFile?: string;
  /** Where the server's own log goes. */
  logFile: string;
  cliPath?: string;
  /**
   * Records the server (pid, start time, command line) here, and has it lead a process group of its
   * own: a terminal's Ctrl-C then reaches only the process that started it, which stops its workers
   * before the server; and a server that outlived a killed starter is stopped by the next start with
   * the same file. Omitted (tests) = the server shares its starter's process group and dies with it.
   */
  pidFile?: string;
  /** Restarts the server when it dies (lib/supervisor.ts) and reports each step here; omitted = not supervised. */
  supervise?: { log: (line: string) => void; restartDelaysMs?: readonly number[] };
}

/** The Temporal CLI: explicit path, else the project-local tools folder the set-up script fills, else PATH. */
export function temporalCliPath(explicit?: string): string {
  if (explicit) return explicit;
  const local = localToolPath('temporal');
  return fs.existsSync(local) ? local : 'temporal';
}

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const log = options.supervise?.log ?? (() => undefined);
  if (options.pidFile && (await stopRecordedProcess(options.pidFile))) {
    log(`stopped the Temporal dev server a previous run left running (recorded in ${options.pidFile})`);
  }
  let child = await launch(options);
  const run = (started: ChildProcess): SupervisedRun => ({
    pid: started.pid,
    ended: new Promise((resolve) =>
      started.once('exit', (code, signal) => resolve(exitReason(code, signal, options.logFile))),
    ),
  });
  const supervisor = options.supervise
    ? supervise(run(child), {
        what: 'Temporal dev server',
        log,
        logFile: options.logFile,
        restartDelaysMs: options.supervise.restartDelaysMs,
        relaunch: async () => run((child = await launch(options))),
      })
    : undefined;

  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    failed: supervisor?.failed ?? new Promise<Error>(() => undefined),
    async stop() {
      await supervisor?.stop();
      await stopChild(child, 10_000, { group: options.pidFile !== undefined });
      if (options.pidFile) fs.rmSync(options.pidFile, { force: true });
    },
  };
}

/** Starts one server process and waits until it listens; a process that does not get there is stopped. */
async function launch(options: TemporalDevServerOptions): Promise<ChildProcess> {
  if (await isPortOpen(options.port)) {
    throw new Error(
      `port ${options.port} is already in use; stop what listens there, set LAMINA_TEMPORAL_PORT, ` +
        `or point TEMPORAL_ADDRESS at that server if it is a Temporal cluster`,
    );
  }
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    ...(options.uiPort && options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    ...Object.entries(LAMINA_SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${type}`,
    ]),
  ];
  if (options.dbFile) {
    fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
    // A write-ahead log, every commit synced: as durable as SQLite's default rollback journal (a crash or
    // power loss keeps every commit acknowledged), with a quarter of the syncs. The journal syncs the
    // journal and the database on every commit: bench:publish made 2591 fsyncs with it, 667 with the log,
    // and each publish step waits for its workflow task's commit.
    args.push(
      '--db-filename',
      options.dbFile,
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=full',
    );
  }
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const cli = temporalCliPath(options.cliPath);
  const ownGroup = options.pidFile !== undefined;
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: ownGroup });
  fs.closeSync(log);
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`cannot start the Temporal CLI (${cli}): ${err.message}; run scripts/setup`)),
    ),
  );
  // Recorded before it is ready: a starter killed while it waits leaves a server the next start finds.
  // One that already ended is not: the wait below says why it ended.
  const record = child.pid === undefined ? undefined : processRecord(child.pid);
  if (options.pidFile && record) writePidFile(options.pidFile, record);
  try {
    await Promise.race([
      spawnError,
      waitFor(`Temporal dev server on port ${options.port}`, () => isPortOpen(options.port), {
        timeoutMs: 60_000,
        child,
        log: () => fs.readFileSync(options.logFile, 'utf8'),
      }),
    ]);
  } catch (err) {
    await stopChild(child, 5_000, { group: ownGroup });
    if (options.pidFile) fs.rmSync(options.pidFile, { force: true });
    throw err;
  }
  return child;
}

/** Why a server process ended, with the end of its log when it failed by itself. */
function exitReason(code: number | null, signal: NodeJS.Signals | null, logFile: string): string {
  if (signal) return `was killed (${signal})`;
  const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
  return `exited with code ${code}${tail ? `:\n${tail}` : ''}`;
}
