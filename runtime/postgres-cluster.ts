import fs from 'node:fs';
import path from 'node:path';
import { freePort, run } from './processes';

/**
 * A private PostgreSQL cluster under Lamina's data folder, for the embedded defaults and the tests.
 * initdb and postgres refuse to run as root, so as root the cluster runs as the system user `lamina`
 * (created on first use), which owns the data folder.
 */
export interface PostgresCluster {
  url: string;
  /** Stops the server if this process started it (a cluster found running is left running). */
  stop(): Promise<void>;
}

const SERVICE_USER = 'lamina';
const DATABASE = 'lamina';

export function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs
        .readdirSync(base)
        .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      `PostgreSQL server binaries not found under ${base}; run the set-up script (scripts/setup)`,
    );
  }
  return path.join(base, versions[0], 'bin');
}

function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

async function ensureServiceUser(): Promise<void> {
  try {
    await run('id', ['-u', SERVICE_USER]);
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
  }
}

/** Runs a PostgreSQL program as the cluster's owner. */
function runAsOwner(bin: string, args: string[]): Promise<string> {
  return runningAsRoot() ? run('runuser', ['-u', SERVICE_USER, '--', bin, ...args]) : run(bin, args);
}

/** The port of a cluster already running on this data folder, from postmaster.pid, or undefined. */
async function runningPort(binDir: string, dataDir: string): Promise<number | undefined> {
  try {
    await runAsOwner(path.join(binDir, 'pg_ctl'), ['status', '-D', dataDir]);
  } catch {
    return undefined;
  }
  const lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  return Number(lines[3]);
}

export async function startPostgresCluster(dataDir: string): Promise<PostgresCluster> {
  const binDir = postgresBinDir();
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (runningAsRoot()) {
    await ensureServiceUser();
    await run('chown', ['-R', `${SERVICE_USER}:`, dataDir]);
  }
  const socketDir = dataDir; // keeps the Unix socket private and out of /var/run
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await runAsOwner(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SERVICE_USER,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
  }

  let port = await runningPort(binDir, dataDir);
  const startedHere = port === undefined;
  if (port === undefined) {
    port = await freePort();
    await runAsOwner(path.join(binDir, 'pg_ctl'), [
      'start',
      '-D',
      dataDir,
      '-w',
      '-t',
      '60',
      '-l',
      path.join(dataDir, 'server.log'),
      '-o',
      `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=on`,
    ]);
  }
  const psqlArgs = ['-h', '127.0.0.1', '-p', String(port), '-U', SERVICE_USER, '-d', 'postgres', '-tAc'];
  const exists = await runAsOwner(path.join(binDir, 'psql'), [
    ...psqlArgs,
    `SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`,
  ]);
  if (exists.trim() !== '1') {
    await runAsOwner(path.join(binDir, 'psql'), [...psqlArgs, `CREATE DATABASE ${DATABASE}`]);
  }

  return {
    url: `postgres://${SERVICE_USER}@127.0.0.1:${port}/${DATABASE}`,
    async stop() {
      if (startedHere) {
        await runAsOwner(path.join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w']);
      }
    },
  };
}
