import { execFile } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, pidExists, run } from '../lib/processes';
import { supervise, type SupervisedRun } from '../lib/supervisor';

/**
 * A private PostgreSQL cluster under Lamina's data folder, for the embedded defaults and the tests.
 * initdb and postgres refuse to run as root, so as root the cluster runs as the system user `lamina`
 * (created on first use), which owns the data folder.
 *
 * Nothing reaches it without authentication: TCP (loopback only) takes the role's password
 * (scram-sha-256), kept in `<data folder>.password` (mode 0600, owned by the cluster's user, like the
 * master key); the Unix socket lives in the data folder (mode 0700) and takes only the cluster's own OS
 * user (peer), which is how this module sets the password. pg_hba.conf is rewritten at every start, so a
 * cluster made by an older Lamina with `--auth=trust` is secured in place with its data.
 */
export interface PostgresCluster {
  /** Carries the role's password: pass it on, never print it (runtime/stack.ts names the database without it). */
  url: string;
  /**
   * Stops the server, whether this process started it or found it running: the cluster under Lamina's
   * data folder is Lamina's, and one found running was left by a Lamina that was killed before it could
   * stop it. (A database named by DATABASE_URL never comes through here.)
   */
  stop(): Promise<void>;
  /**
   * Supervised: settles with the reason when the server kept dying and supervision gave up; never
   * settles otherwise.
   */
  failed: Promise<Error>;
}

export interface PostgresClusterOptions {
  /**
   * Restarts the server on its port when it ends by itself (lib/supervisor.ts: killed, crashed, stopped
   * by hand) and reports each step here; omitted = not supervised.
   */
  supervise?: { log: (line: string) => void; restartDelaysMs?: readonly number[] };
  /** How often the server's postmaster is looked for (it is pg_ctl's child, not ours). */
  pollMs?: number;
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

/** The OS user that owns the data folder and runs the server. */
function clusterOsUser(): string {
  return runningAsRoot() ? SERVICE_USER : os.userInfo().username;
}

async function ensureServiceUser(): Promise<void> {
  try {
    await run('id', ['-u', SERVICE_USER]);
  } catch {
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SERVICE_USER]);
  }
}

/**
 * The service user must pass through every folder above the data folder (the folder itself it is given):
 * found out here, the answer names the folder and the fix instead of initdb's bare "Permission denied".
 */
async function checkTraversable(dataDir: string): Promise<void> {
  const above: string[] = [];
  for (let dir = path.dirname(path.resolve(dataDir)); ; dir = path.dirname(dir)) {
    above.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const dir of above) {
    try {
      await run('runuser', ['-u', SERVICE_USER, '--', 'test', '-x', dir]);
    } catch {
      const mode = (fs.statSync(dir).mode & 0o7777).toString(8).padStart(4, '0');
      throw new Error(
        `the PostgreSQL service user '${SERVICE_USER}' cannot traverse ${dir} (mode ${mode}): ` +
          `give it o+x (chmod o+x ${dir}) or choose another LAMINA_DATA_DIR`,
      );
    }
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

/** Where the role's password is kept: beside the data folder, since initdb wants that folder empty. */
export function postgresPasswordFile(dataDir: string): string {
  return `${dataDir}.password`;
}

/**
 * The role's password from its file, made (random, mode 0600) when missing: deleting the file and
 * restarting gives the role a new password. As root the file belongs to the cluster's user, like its folder.
 */
async function ensurePassword(file: string): Promise<string> {
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  fs.chmodSync(file, 0o600);
  if (runningAsRoot()) await run('chown', [`${SERVICE_USER}:`, file]);
  const password = fs.readFileSync(file, 'utf8').trim();
  if (!/^[A-Za-z0-9_-]{16,}$/.test(password)) {
    throw new Error(`${file} does not hold a PostgreSQL password; delete it to have a new one made`);
  }
  return password;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, PostgreSQL's 4096 rounds).
 * Handing the server the verifier instead of the password keeps the password out of its logs.
 */
function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const iterations = 4096;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256')
    .update(createHmac('sha256', salted).update('Client Key').digest())
    .digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Writes pg_hba.conf and pg_ident.conf (no `trust` anywhere); answers whether either changed, which a
 * server found running must be told of.
 */
async function writeAuthConfig(dataDir: string): Promise<boolean> {
  const files = {
    'pg_hba.conf': [
      '# Written by Lamina at every start (runtime/postgres-cluster.ts); edits here are replaced.',
      '# The socket, in the 0700 data folder, takes only the OS user that owns the cluster, as the role lamina;',
      '# TCP, on loopback only, takes the password of Lamina’s data folder file (scram-sha-256).',
      'local all all peer map=owner',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host all all ::1/128 scram-sha-256',
      '',
    ].join('\n'),
    'pg_ident.conf': `# Written by Lamina at every start.\nowner ${clusterOsUser()} ${SERVICE_USER}\n`,
  };
  let changed = false;
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dataDir, name);
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) continue;
    fs.writeFileSync(file, text, { mode: 0o600 });
    if (runningAsRoot()) await run('chown', [`${SERVICE_USER}:`, file]);
    changed = true;
  }
  return changed;
}

/** Runs SQL (from stdin, so nothing of it shows in the process list) through the socket as the cluster's owner. */
function psqlAsOwner(binDir: string, socketDir: string, port: number, sql: string): Promise<void> {
  const psql = path.join(binDir, 'psql');
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port)];
  const argv = [...args, '-U', SERVICE_USER, '-d', 'postgres'];
  const [file, fileArgs] = runningAsRoot()
    ? ['runuser', ['-u', SERVICE_USER, '--', psql, ...argv]]
    : [psql, argv];
  return new Promise((resolve, reject) => {
    const child = execFile(file, fileArgs, { timeout: 60_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`psql on ${socketDir} failed: ${stderr.trim() || err.message}`)) : resolve(),
    );
    child.stdin?.end(sql);
  });
}

/** Starts the server of the cluster in `dataDir` on `port`, waiting until it accepts connections. */
function startServer(binDir: string, dataDir: string, port: number): Promise<string> {
  return runAsOwner(path.join(binDir, 'pg_ctl'), [
    'start',
    '-D',
    dataDir,
    '-w',
    '-t',
    '60',
    '-l',
    path.join(dataDir, 'server.log'),
    '-o',
    `-p ${port} -k ${dataDir} -c unix_socket_permissions=0700 -c listen_addresses=127.0.0.1 -c fsync=on`,
  ]);
}

/** The postmaster's pid, from postmaster.pid. */
export function postmasterPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/**
 * The running server as the supervisor watches it: `ended` settles, with the end of the server's log,
 * once its postmaster is gone (after a stop too, which the supervisor, stopped first, then ignores).
 */
function runOf(dataDir: string, pollMs: number): SupervisedRun {
  const pid = postmasterPid(dataDir);
  return {
    pid,
    ended: new Promise((resolve) => {
      const poll = setInterval(() => {
        // Gone once reaped: a new postmaster refuses to start while the old pid exists (its lock file).
        if (!pidExists(pid)) {
          clearInterval(poll);
          const log = path.join(dataDir, 'server.log');
          const tail = fs.existsSync(log)
            ? fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join('\n')
            : '';
          resolve(`ended (its postmaster, pid ${pid}, is gone)${tail ? `:\n${tail}` : ''}`);
        }
      }, pollMs);
      poll.unref();
    }),
  };
}

export async function startPostgresCluster(
  dataDir: string,
  options: PostgresClusterOptions = {},
): Promise<PostgresCluster> {
  const binDir = postgresBinDir();
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (runningAsRoot()) {
    await ensureServiceUser();
    await checkTraversable(dataDir);
    await run('chown', ['-R', `${SERVICE_USER}:`, dataDir]);
  }
  const password = await ensurePassword(postgresPasswordFile(dataDir));
  const socketDir = dataDir; // keeps the Unix socket private (0700) and out of /var/run
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    // No password yet: the socket's peer rule lets this module set it; writeAuthConfig then sets the rules for good.
    await runAsOwner(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SERVICE_USER,
      '--auth-local=peer',
      '--auth-host=reject',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
  }
  const rulesChanged = await writeAuthConfig(dataDir);

  let port = await runningPort(binDir, dataDir);
  if (port === undefined) {
    port = await freePort();
    await startServer(binDir, dataDir, port);
  } else if (rulesChanged) {
    // A server left running (an older Lamina's, with trust) takes the new rules before anything else.
    await runAsOwner(path.join(binDir, 'pg_ctl'), ['reload', '-D', dataDir]);
  }
  // Set at every start, so the role's password is always the file's (a new file, an upgraded cluster).
  await psqlAsOwner(
    binDir,
    socketDir,
    port,
    [
      `ALTER ROLE ${SERVICE_USER} PASSWORD '${scramVerifier(password)}';`,
      `SELECT 'CREATE DATABASE ${DATABASE}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${DATABASE}')\\gexec`,
      '',
    ].join('\n'),
  );

  // Restarted on the same port: the database URL the appliance's pools hold stays right.
  const serverPort = port;
  const pollMs = options.pollMs ?? 1_000;
  const supervisor = options.supervise
    ? supervise(runOf(dataDir, pollMs), {
        what: 'PostgreSQL',
        log: options.supervise.log,
        logFile: path.join(dataDir, 'server.log'),
        restartDelaysMs: options.supervise.restartDelaysMs,
        relaunch: async () => {
          await startServer(binDir, dataDir, serverPort);
          return runOf(dataDir, pollMs);
        },
      })
    : undefined;

  return {
    url: `postgres://${SERVICE_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`,
    failed: supervisor?.failed ?? new Promise<Error>(() => undefined),
    async stop() {
      await supervisor?.stop();
      if ((await runningPort(binDir, dataDir)) !== undefined) {
        await runAsOwner(path.join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w']);
      }
    },
  };
}
