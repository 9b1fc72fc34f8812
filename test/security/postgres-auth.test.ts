import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import {
  postgresBinDir,
  postgresPasswordFile,
  startPostgresCluster,
  type PostgresCluster,
} from '../../runtime/postgres-cluster';
import { freePort, run } from '../../lib/processes';
import { testDir } from '../harness';

/** psql as the OS user `nobody` (any other local user): whether it got in, and what it said. */
function psqlAsNobody(
  host: string,
  port: number,
  password?: string,
  sql = 'SELECT current_user',
): Promise<{ ok: boolean; output: string }> {
  const args = ['-X', '-w', '-tA', '-h', host, '-p', String(port), '-U', 'lamina', '-d', 'lamina', '-c', sql];
  return new Promise((resolve) => {
    execFile(
      'runuser',
      ['-u', 'nobody', '--', path.join(postgresBinDir(), 'psql'), ...args],
      { env: { PATH: process.env.PATH, ...(password ? { PGPASSWORD: password } : {}) }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}`.trim() }),
    );
  });
}

function asLamina(bin: string, args: string[]): Promise<string> {
  return run('runuser', ['-u', 'lamina', '--', path.join(postgresBinDir(), bin), ...args]);
}

/** A cluster made and started the way Lamina did before passwords: initdb --auth=trust, with one table of data. */
/** Every cluster this file made; each still running is stopped after the tests, even after a failure. */
const dataDirs: string[] = [];

async function stopIfRunning(dataDir: string): Promise<void> {
  const running = await asLamina('pg_ctl', ['status', '-D', dataDir]).then(
    () => true,
    () => false,
  );
  if (running) await asLamina('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w']);
}

async function trustCluster(dataDir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  fs.mkdirSync(dataDir, { mode: 0o700 });
  await run('chown', ['lamina:', dataDir]);
  await asLamina('initdb', [
    '-D',
    dataDir,
    '-U',
    'lamina',
    '--auth=trust',
    '--locale=C',
    '--no-instructions',
  ]);
  const port = await freePort();
  const log = path.join(dataDir, 'server.log');
  const options = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1`;
  await asLamina('pg_ctl', ['start', '-D', dataDir, '-w', '-l', log, '-o', options]);
  dataDirs.push(dataDir);
  await asLamina('psql', [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-U',
    'lamina',
    '-d',
    'postgres',
    '-c',
    'CREATE DATABASE lamina',
  ]);
  // The hole: any local user is a superuser of the old cluster.
  const created = await psqlAsNobody(
    '127.0.0.1',
    port,
    undefined,
    "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('layers and templates')",
  );
  expect(created).toEqual({ ok: true, output: 'CREATE TABLE\nINSERT 0 1' });
  return { port, stop: () => stopIfRunning(dataDir) };
}

function portOf(cluster: PostgresCluster): number {
  return Number(new URL(cluster.url).port);
}

/** Only password holders get in over TCP, and nobody but the cluster's owner through the socket. */
async function expectLockedToOthers(cluster: PostgresCluster, dataDir: string): Promise<void> {
  const port = portOf(cluster);
  const password = decodeURIComponent(new URL(cluster.url).password);
  expect(await psqlAsNobody('127.0.0.1', port)).toEqual({
    ok: false,
    output: expect.stringContaining('no password supplied'),
  });
  expect(await psqlAsNobody('127.0.0.1', port, 'not-the-password')).toEqual({
    ok: false,
    output: expect.stringContaining('password authentication failed for user "lamina"'),
  });
  for (const secret of [undefined, password]) {
    expect(await psqlAsNobody(dataDir, port, secret)).toEqual({
      ok: false,
      output: expect.stringContaining('Permission denied'),
    });
  }
  expect(await psqlAsNobody('127.0.0.1', port, password)).toEqual({ ok: true, output: 'lamina' });
  const rules = fs.readFileSync(path.join(dataDir, 'pg_hba.conf'), 'utf8');
  expect(rules.split('\n').filter((line) => /^\s*[^#\s].*\btrust\b/.test(line))).toEqual([]);
}

describe('the private PostgreSQL cluster', () => {
  afterAll(async () => {
    for (const dataDir of dataDirs) await stopIfRunning(dataDir);
  });

  it('takes only the password from its 0600 file over TCP, and only its owner on the socket', async () => {
    const dataDir = path.join(testDir('pg-auth'), 'postgres');
    dataDirs.push(dataDir);
    const cluster = await startPostgresCluster(dataDir);
    await expectLockedToOthers(cluster, dataDir);
    const file = fs.statSync(postgresPasswordFile(dataDir));
    expect(file.mode & 0o777).toBe(0o600);
    expect(file.uid).toBe(Number(await run('id', ['-u', 'lamina'])));
    expect(fs.readFileSync(postgresPasswordFile(dataDir), 'utf8').trim()).toBe(
      decodeURIComponent(new URL(cluster.url).password),
    );
  });

  it('secures a cluster made with trust by an older Lamina, keeping its data', async () => {
    const dataDir = path.join(testDir('pg-upgrade'), 'postgres');
    const old = await trustCluster(dataDir);
    await old.stop();

    const cluster = await startPostgresCluster(dataDir);
    await expectLockedToOthers(cluster, dataDir);
    const pool = new Pool({ connectionString: cluster.url, max: 1 });
    const { rows } = await pool.query('SELECT v FROM kept');
    await pool.end();
    expect(rows).toEqual([{ v: 'layers and templates' }]);
  });

  it('secures a trust cluster an older Lamina left running, without stopping it', async () => {
    const dataDir = path.join(testDir('pg-running'), 'postgres');
    const old = await trustCluster(dataDir);

    const cluster = await startPostgresCluster(dataDir);
    expect(portOf(cluster)).toBe(old.port);
    await expectLockedToOthers(cluster, dataDir);
    expect(
      await psqlAsNobody(
        '127.0.0.1',
        old.port,
        decodeURIComponent(new URL(cluster.url).password),
        'SELECT v FROM kept',
      ),
    ).toEqual({
      ok: true,
      output: 'layers and templates',
    });
  });
});
