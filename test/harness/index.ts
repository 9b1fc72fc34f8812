import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { loadConfig, type LaminaConfig } from '../../config/env';
import { startStack, type Stack, type StackOptions } from '../../runtime/stack';
import { harnessValue } from './shared';
import { captureWorkerLog } from './worker-log';

export { harnessValue };
export { eventually } from './poll';
export { expectWorkerFailures, failureLogged, workerLogText, type WorkerFailure } from './worker-log';
export { spawnWorkerProcess } from './worker-process';

export interface TestDatabase {
  url: string;
  /** Drops the database; call in afterAll. */
  drop(): Promise<void>;
}

/** A throw-away database on the harness's Postgres, so test files never see each other's rows. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = harnessValue('databaseUrl');
  const name = `lamina_test_${randomBytes(6).toString('hex')}`;
  const admin = new Pool({ connectionString: adminUrl, max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const pool = new Pool({ connectionString: adminUrl, max: 1 });
      await pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await pool.end();
    },
  };
}

/** A fresh folder under the run's temporary root. */
export function testDir(label: string): string {
  const dir = path.join(harnessValue('root'), `${label}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The run's import folder (LAMINA_IMPORT_DIRS of every test config): disks to import are made in it. */
export function importDir(label: string): string {
  const dir = path.join(harnessValue('root'), 'import', `${label}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A fresh folder that is a mount point of its own (bound onto itself), as a file share connector's
 * `mountPoint` must be. Global teardown unmounts it.
 */
export function mountedDir(label: string): string {
  const dir = testDir(label);
  execFileSync('mount', ['--bind', dir, dir]);
  return dir;
}

/**
 * Config for a test: the harness's Temporal, the given database, a private data folder, an API on a
 * free port, and task queues (appliance and compose) of its own so workers of other test files never take its tasks.
 */
export function testConfig(databaseUrl: string, env: Record<string, string> = {}): LaminaConfig {
  const queue = `test-${randomBytes(6).toString('hex')}`;
  return loadConfig({
    TEMPORAL_ADDRESS: harnessValue('temporalAddress'),
    DATABASE_URL: databaseUrl,
    LAMINA_DATA_DIR: testDir('data'),
    LAMINA_API_PORT: '0',
    LAMINA_TASK_QUEUE: queue,
    LAMINA_COMPOSE_TASK_QUEUE: `${queue}-compose`,
    LAMINA_REPOSITORY_MIN_FREE_GIB: '0',
    LAMINA_DIAGNOSTICS_PROBE_MIB: '4',
    LAMINA_IMPORT_DIRS: path.join(harnessValue('root'), 'import'),
    ...env,
  });
}

/** Starts API and/or worker in-process against the harness's services, with the run's workflow bundle. */
export function startTestStack(
  config: LaminaConfig,
  options: Partial<Pick<StackOptions, 'api' | 'worker'>> = {},
): Promise<Stack> {
  captureWorkerLog();
  return startStack(config, {
    api: options.api ?? true,
    worker: options.worker ?? true,
    embedded: false,
    workflowBundlePath: harnessValue('workflowBundle'),
  });
}
