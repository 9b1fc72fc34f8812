import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../api/tasks/task-service';
import type { LaminaConfig } from '../config/env';
import { freePort, isAlive, readPidFile, stopChild, type ProcessRecord } from '../lib/processes';
import type { Stack } from '../runtime/stack';
import {
  startTemporalDevServer,
  temporalCliPath,
  type TemporalDevServer,
} from '../runtime/temporal-dev-server';
import { administratorClient, type ApiClient } from './api-client';
import {
  createTestDatabase,
  eventually,
  spawnWorkerProcess,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from './harness';

async function diagnosticsCompletes(admin: ApiClient): Promise<string> {
  const started = await admin.post('/api/tasks/diagnostics');
  expect(started.status).toBe(202);
  const { id } = started.body as Task;
  const done = (await admin.get(`/api/tasks/${id}/wait?timeout=60`)).body as Task;
  expect(done.state).toBe('completed');
  return id;
}

/** Kills the server's process as a crash would, and waits until it is gone. */
async function crash(server: ProcessRecord): Promise<void> {
  process.kill(server.pid, 'SIGKILL');
  await eventually(() => !isAlive(server), 60_000, 'the killed server is gone');
}

/** A `lamina worker` process; its log (the SDK's warnings while Temporal is away) goes to a file. */
function spawnWorker(config: LaminaConfig, databaseUrl: string): ChildProcess {
  return spawnWorkerProcess({
    config,
    databaseUrl,
    logFile: path.join(config.dataDir, 'worker.log'),
    temporalAddress: config.temporal.address,
    env: { LAMINA_REPOSITORY_MIN_FREE_GIB: '0', LAMINA_DIAGNOSTICS_PROBE_MIB: '4' },
  });
}

describe('the supervised Temporal dev server', () => {
  let db: TestDatabase;
  let server: TemporalDevServer;
  let stack: Stack;
  let worker: ChildProcess;
  let admin: ApiClient;
  const logs: string[] = [];
  const dir = testDir('supervised-temporal');
  const pidFile = path.join(dir, 'server.pid');

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTemporalDevServer({
      port: await freePort(),
      namespace: 'default',
      dbFile: path.join(dir, 'temporal.db'),
      logFile: path.join(dir, 'server.log'),
      pidFile,
      // Long enough to look at the API while Temporal is down.
      supervise: { log: (line) => logs.push(line), restartDelaysMs: [4_000] },
    });
    const config = testConfig(db.url, { TEMPORAL_ADDRESS: server.address });
    stack = await startTestStack(config, { worker: false });
    worker = spawnWorker(config, db.url);
    admin = await administratorClient(stack);
  });
  afterAll(async () => {
    if (worker) await stopChild(worker);
    await stack?.stop();
    await server?.stop();
    await db?.drop();
  });

  it('is restarted when it dies; meanwhile task routes answer 503 naming Temporal at once', async () => {
    const before = await diagnosticsCompletes(admin);
    await crash(readPidFile(pidFile)!);

    const answers = await Promise.all(
      [
        ['GET', `/api/tasks/${before}`],
        ['GET', '/api/tasks'],
        ['GET', `/api/tasks/${before}/wait?timeout=5`],
        ['POST', '/api/tasks/diagnostics'],
      ].map(async ([method, route]) => {
        const startedAt = Date.now();
        const response = await admin.request(method, route, method === 'POST' ? {} : undefined);
        return { route: `${method} ${route}`, response, ms: Date.now() - startedAt };
      }),
    );
    for (const { route, response, ms } of answers) {
      expect({ route, fast: ms < 2_000, status: response.status }).toEqual({
        route,
        fast: true,
        status: 503,
      });
      expect(response.headers.get('retry-after')).toBe('5');
      expect(response.body).toMatchObject({
        title: 'Temporal unavailable',
        detail: expect.stringMatching(
          /^Temporal, which runs the tasks, does not answer \(.+\); try again shortly\.$/,
        ),
      });
      expect(response.text).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
    }

    await eventually(
      () => logs.some((line) => line.startsWith('Temporal dev server restarted')),
      60_000,
      'restarted',
    );
    expect(logs[0]).toBe('Temporal dev server was killed (SIGKILL); restarting it in 4 s');
    // History survived in its database file; the API finds the server again within its 2 s
    // reconnect back-off, and the worker takes up its queues again.
    const shown = await eventually(
      async () => {
        const response = await admin.get(`/api/tasks/${before}`);
        return response.status === 200 && response;
      },
      5_000,
      'the API reaches Temporal again',
    );
    expect((shown.body as Task).state).toBe('completed');
    await diagnosticsCompletes(admin);
  }, 180_000);

  it('gives up, saying why, after quick failures in a row', async () => {
    // A CLI that runs the real server once and then fails at every start, as a broken database would.
    const cli = path.join(testDir('failing-temporal'), 'temporal');
    fs.writeFileSync(
      cli,
      [
        '#!/bin/sh',
        'if [ -e "$0.started" ]; then echo "database file is corrupt" >&2; exit 1; fi',
        'touch "$0.started"',
        `exec ${temporalCliPath()} "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const failingPidFile = path.join(path.dirname(cli), 'server.pid');
    const failing = await startTemporalDevServer({
      port: await freePort(),
      namespace: 'default',
      logFile: path.join(path.dirname(cli), 'server.log'),
      pidFile: failingPidFile,
      cliPath: cli,
      supervise: { log: () => undefined, restartDelaysMs: [100, 100] },
    });
    try {
      await crash(readPidFile(failingPidFile)!);
      const reason = await failing.failed;
      expect(reason.message).toMatch(/^Temporal dev server did not start again: .* exited with code 1:\n/);
      expect(reason.message).toContain('database file is corrupt');
      expect(reason.message).toContain(
        'it failed 3 times in a row, each within 60 s of its start, so it is not restarted again',
      );
    } finally {
      await failing.stop();
    }
  }, 60_000);
});
