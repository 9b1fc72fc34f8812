import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localToolPath } from '../lib/project-root';
import { freePort, isPortOpen, stopChild, waitFor } from '../lib/processes';

/**
 * VMware's vSphere simulator (vcsim from govmomi) as a real process on a free loopback port, with TLS
 * on (its built-in self-signed certificate). Each instance gets its own TMPDIR because vcsim backs
 * every datastore with a folder `$TMPDIR/govcsim-<dc>-<datastore>-*`: that is how tests reach the
 * bytes an upload wrote.
 */
export interface Vcsim {
  /** https://127.0.0.1:PORT/sdk */
  url: string;
  host: string;
  port: number;
  username: string;
  password: string;
  /** The local folder behind a datastore (vcsim creates it at start). */
  datastoreDir(datastore: string): string;
  /** Graceful: vcsim lets calls in flight finish. */
  stop(): Promise<void>;
  /** A crash (SIGKILL): calls in flight break, like a vCenter that goes down. */
  kill(): Promise<void>;
}

export interface VcsimOptions {
  /** vcsim inventory flags, e.g. { dc: 1, cluster: 1, host: 1, vm: 1, ds: 1, folder: 1 }. */
  inventory?: Partial<Record<'dc' | 'cluster' | 'host' | 'vm' | 'ds' | 'folder' | 'pg' | 'pool', number>>;
  username?: string;
  password?: string;
  /** Reuse a port (restarting a simulator at the same address); default a free one. */
  port?: number;
  /** Further vcsim flags, e.g. ['-method-delay', 'CreateSnapshot_Task:3000'] to hold a call in flight. */
  extraArgs?: string[];
}

export async function startVcsim(options: VcsimOptions = {}): Promise<Vcsim> {
  const port = options.port ?? (await freePort());
  const username = options.username ?? 'lamina';
  const password = options.password ?? 'vcsim-password';
  // A small default inventory keeps the shared CPUs free: one host per cluster, one VM, no standalone host.
  const inventory = { dc: 1, cluster: 1, host: 1, vm: 1, ds: 1, folder: 0, ...options.inventory };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lamina-vcsim-'));
  const args = [
    '-l',
    `127.0.0.1:${port}`,
    '-username',
    username,
    '-password',
    password,
    '-standalone-host',
    '0',
    ...Object.entries(inventory).flatMap(([flag, count]) => [`-${flag}`, String(count)]),
    ...(options.extraArgs ?? []),
  ];
  const logFile = path.join(tmp, 'vcsim.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(localToolPath('vcsim'), args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, TMPDIR: tmp },
  });
  fs.closeSync(log);
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start vcsim: ${err.message}; run scripts/setup`))),
  );
  await Promise.race([
    spawnError,
    waitFor(`vcsim on port ${port}`, () => isPortOpen(port), {
      timeoutMs: 30_000,
      child,
      log: () => fs.readFileSync(logFile, 'utf8'),
    }),
  ]);
  return {
    url: `https://127.0.0.1:${port}/sdk`,
    host: '127.0.0.1',
    port,
    username,
    password,
    datastoreDir(datastore: string): string {
      const prefix = 'govcsim-';
      const match = fs
        .readdirSync(tmp)
        .find((entry) => entry.startsWith(prefix) && entry.replace(/-[^-]+$/, '').endsWith(`-${datastore}`));
      if (!match) throw new Error(`vcsim has no folder for datastore '${datastore}' under ${tmp}`);
      return path.join(tmp, match);
    },
    async stop() {
      await stopChild(child, 5_000);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
