import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startPostgresCluster } from '../../runtime/postgres-cluster';
import { freePort, run } from '../../lib/processes';
import { projectRoot } from '../../lib/project-root';
import { startTemporalDevServer } from '../../runtime/temporal-dev-server';
import { HARNESS_ENV, type HarnessHandles } from './shared';

/**
 * Once per jest run: start (or reuse, when LAMINA_TEST_TEMPORAL_ADDRESS / LAMINA_TEST_DATABASE_URL
 * are set) a real Temporal dev server and a real PostgreSQL cluster, bundle the workflow code once,
 * and compile dist/ so tests can spawn `bin/lamina` processes. Test files get them through env vars.
 */
export default async function globalSetup(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lamina-test-'));
  // The Postgres cluster runs as an unprivileged user when tests run as root: it must reach its folder.
  fs.chmodSync(root, 0o755);
  const handles: HarnessHandles = { root, stops: [] };
  (globalThis as { laminaHarness?: HarnessHandles }).laminaHarness = handles;

  const compile = run('npx', ['tsc', '-p', 'tsconfig.build.json'], {
    cwd: projectRoot(),
    timeoutMs: 300_000,
  });

  const startTemporal = async () => {
    if (process.env[HARNESS_ENV.temporalAddress]) return;
    const server = await startTemporalDevServer({
      port: await freePort(),
      namespace: 'default',
      logFile: path.join(root, 'temporal.log'),
    });
    handles.stops.push(server.stop);
    process.env[HARNESS_ENV.temporalAddress] = server.address;
  };
  const startPostgres = async () => {
    if (process.env[HARNESS_ENV.databaseUrl]) return;
    const cluster = await startPostgresCluster(path.join(root, 'postgres'));
    handles.stops.push(cluster.stop);
    process.env[HARNESS_ENV.databaseUrl] = cluster.url;
  };
  const bundle = async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(projectRoot(), 'workflows', 'index.ts'),
      logger: {
        info: () => undefined,
        warn: console.warn,
        error: console.error,
        debug: () => undefined,
        trace: () => undefined,
        log: () => undefined,
      },
    });
    const file = path.join(root, 'workflow-bundle.js');
    fs.writeFileSync(file, code);
    process.env[HARNESS_ENV.workflowBundle] = file;
  };
  const steps = await Promise.allSettled([startTemporal(), startPostgres(), bundle(), compile]);
  const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // jest runs no global teardown after a failed setup: what started is stopped here, or it outlives the run.
    for (const stop of handles.stops.reverse()) await stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
    throw failed.reason;
  }
  process.env[HARNESS_ENV.root] = root;
}
