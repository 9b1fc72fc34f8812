import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { localToolPath } from '../lib/project-root';
import { isPortOpen, stopChild, waitFor } from '../lib/processes';
import { LAMINA_SEARCH_ATTRIBUTES } from './search-attributes';

/**
 * The real Temporal dev server (`temporal server start-dev` from the Temporal CLI), started when no
 * TEMPORAL_ADDRESS is configured. With a database file its history survives restarts.
 */
export interface TemporalDevServer {
  address: string;
  uiUrl?: string;
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
}

/** The Temporal CLI: explicit path, else the project-local tools folder the set-up script fills, else PATH. */
export function temporalCliPath(explicit?: string): string {
  if (explicit) return explicit;
  const local = localToolPath('temporal');
  return fs.existsSync(local) ? local : 'temporal';
}

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
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
    args.push('--db-filename', options.dbFile);
  }
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = fs.openSync(options.logFile, 'a');
  const cli = temporalCliPath(options.cliPath);
  const child = spawn(cli, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`cannot start the Temporal CLI (${cli}): ${err.message}; run scripts/setup`)),
    ),
  );
  await Promise.race([
    spawnError,
    waitFor(`Temporal dev server on port ${options.port}`, () => isPortOpen(options.port), {
      timeoutMs: 60_000,
      child,
      log: () => fs.readFileSync(options.logFile, 'utf8'),
    }),
  ]);
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    stop: () => stopChild(child),
  };
}
