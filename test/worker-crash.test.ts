import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../api/tasks/task-service';
import type { LaminaConfig } from '../config/env';
import { stopChild } from '../lib/processes';
import type { Stack } from '../runtime/stack';
import { administratorClient } from './api-client';
import {
  createTestDatabase,
  spawnWorkerProcess,
  startTestStack,
  testConfig,
  type TestDatabase,
} from './harness';

/** A `lamina worker` process, as a deployment runs it, so it can be killed like a crashing host. */
function spawnWorker(config: LaminaConfig, databaseUrl: string, logFile: string): ChildProcess {
  return spawnWorkerProcess({
    config,
    databaseUrl,
    logFile,
    env: { LAMINA_REPOSITORY_MIN_FREE_GIB: '0', LAMINA_DIAGNOSTICS_PROBE_MIB: '512' },
  });
}

describe('a worker killed while diagnostics runs', () => {
  let db: TestDatabase;
  let api: Stack;
  let config: LaminaConfig;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    config = testConfig(db.url);
    api = await startTestStack(config, { worker: false });
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await api?.stop();
    await db?.drop();
  });

  it('resumes on a new worker and the task completes', async () => {
    const logFile = path.join(config.dataDir, 'workers.log');
    children.push(spawnWorker(config, db.url, logFile));
    const admin = await administratorClient(api);
    const { id } = (await admin.post('/api/tasks/diagnostics')).body as Task;

    // Kill -9 the worker once the repository probe has reported progress, i.e. mid-activity.
    let task: Task;
    do {
      await new Promise((r) => setTimeout(r, 50));
      task = (await admin.get(`/api/tasks/${id}`)).body as Task;
    } while (!task.progress.some((p) => p.step === 'checkRepository' && p.phase === 'write-probe'));
    const probe = task.progress.find((p) => p.step === 'checkRepository')!;
    expect(probe.done).toBeLessThan(probe.total!);
    children[0].kill('SIGKILL');

    children.push(spawnWorker(config, db.url, logFile));
    const done = (await admin.get(`/api/tasks/${id}/wait?timeout=90`)).body as Task;
    expect(done.state).toBe('completed');
    expect((done.result as { ok: boolean }).ok).toBe(true);

    // The probe ran twice: once on the killed worker, once on its successor.
    const attempts: number[] = [];
    const history = await api.client.workflow.getHandle(id).fetchHistory();
    for (const event of history.events ?? []) {
      const startedEvent = event.activityTaskStartedEventAttributes;
      if (startedEvent) attempts.push(startedEvent.attempt ?? 1);
    }
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
    // Nothing half-written is left in the repository.
    expect(fs.readdirSync(config.repositoryDir)).toEqual([]);
  }, 180_000);
});
