import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../api/tasks/task-service';
import type { LaminaConfig } from '../config/env';
import type { Stack } from '../runtime/stack';
import { administratorClient } from './api-client';
import { createTestDatabase, startTestStack, testConfig, testDir, type TestDatabase } from './harness';
import { fileshareConnector } from './workflows/fixtures';

interface Report {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
}

async function runDiagnostics(stack: Stack): Promise<Task> {
  const api = await administratorClient(stack);
  const started = await api.post('/api/tasks/diagnostics');
  expect(started.status).toBe(202);
  const task = started.body as Task;
  expect(started.headers.get('location')).toBe(`/api/tasks/${task.id}`);
  const waited = await api.get(`/api/tasks/${task.id}/wait?timeout=60`);
  expect(waited.status).toBe(200);
  return waited.body as Task;
}

describe('diagnostics task through the API, real Temporal and Postgres', () => {
  let db: TestDatabase;
  let stack: Stack;
  let config: LaminaConfig;

  beforeAll(async () => {
    db = await createTestDatabase();
    config = testConfig(db.url);
    stack = await startTestStack(config);
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  it('checks database, repository, toolchain and the local connector', async () => {
    const task = await runDiagnostics(stack);
    expect(task).toMatchObject({ type: 'diagnostics', state: 'completed', user: 'administrator' });
    const report = task.result as Report;
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['database', true],
      ['repository', true],
      ['toolchain', true],
      ["connector 'Local' (local)", true],
    ]);
    expect(report.ok).toBe(true);
    expect(report.checks[0].detail).toMatch(/PostgreSQL \d+/);
    expect(report.checks[2].detail).toMatch(/qemu-img version/);
  });

  it('is visible in Temporal with its search attributes and a readable summary', async () => {
    const task = await runDiagnostics(stack);
    const ids: string[] = [];
    // Visibility is eventually consistent: poll briefly for the new execution.
    for (let i = 0; i < 50 && !ids.includes(task.id); i++) {
      ids.length = 0;
      for await (const wf of stack.client.workflow.list({
        query: `LaminaTaskType = 'diagnostics' AND LaminaUser = 'administrator'`,
      })) {
        ids.push(wf.workflowId);
      }
      if (!ids.includes(task.id)) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ids).toContain(task.id);
    const description = await stack.client.workflow.getHandle(task.id).describe();
    expect(await description.staticSummary()).toMatch(/^Diagnostics: database, layer repository/);
  });

  it('reports a repository that cannot be written, and the task still completes', async () => {
    const blocker = path.join(testDir('blocked'), 'not-a-folder');
    fs.writeFileSync(blocker, 'a file where the repository folder should be');
    const brokenDb = await createTestDatabase();
    const broken = await startTestStack(testConfig(brokenDb.url, { LAMINA_REPOSITORY_DIR: blocker }));
    try {
      const task = await runDiagnostics(broken);
      expect(task.state).toBe('completed');
      const report = task.result as Report;
      expect(report.ok).toBe(false);
      const repository = report.checks.find((c) => c.name === 'repository')!;
      expect(repository.ok).toBe(false);
      expect(repository.detail).toContain(blocker);
      expect(repository.detail).toMatch(/EEXIST|ENOTDIR/);
    } finally {
      await broken.stop();
      await brokenDb.drop();
    }
  });

  it('reports too little free space against the configured minimum', async () => {
    const strictDb = await createTestDatabase();
    const strict = await startTestStack(
      testConfig(strictDb.url, { LAMINA_REPOSITORY_MIN_FREE_GIB: '1000000' }),
    );
    try {
      const report = (await runDiagnostics(strict)).result as Report;
      expect(report.checks.find((c) => c.name === 'repository')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          /at least 1000000\.0 GiB is required \(LAMINA_REPOSITORY_MIN_FREE_GIB\)/,
        ),
      });
    } finally {
      await strict.stop();
      await strictDb.drop();
    }
  });

  it('passes every check of 20 diagnostics and 20 connector tests run at once', async () => {
    const api = await administratorClient(stack);
    const share = await fileshareConnector(api);
    const local = (await api.get('/api/connectors')).body.items.find(
      (c: { type: string }) => c.type === 'local',
    );
    // As a client should: a 503 naming Temporal (its health check is bounded at 1.5 s, which a
    // starved machine can miss in a burst) is tried again after its Retry-After.
    const start = async (route: string) => {
      for (let attempt = 1; ; attempt++) {
        const answer = await api.post(route);
        if (answer.status !== 503 || attempt === 3) return answer;
        await new Promise((resolve) => setTimeout(resolve, Number(answer.headers.get('retry-after')) * 1000));
      }
    };
    const started = await Promise.all([
      ...Array.from({ length: 20 }, () => start('/api/tasks/diagnostics')),
      ...Array.from({ length: 10 }, () => start(`/api/connectors/${share.id}/test`)),
      ...Array.from({ length: 10 }, () => start(`/api/connectors/${local.id}/test`)),
    ]);
    expect(started.filter((s) => s.status !== 202).map((s) => s.text)).toEqual([]);
    const done = await Promise.all(
      started.map(async (s) => (await api.get(`/api/tasks/${s.body.id}/wait?timeout=60`)).body as Task),
    );
    const failed = done
      .filter((task) => task.state !== 'completed' || !(task.result as Report).ok)
      .map((task) => JSON.stringify(task.result ?? task.error));
    expect(failed).toEqual([]);
    // Every probe removed itself.
    expect(fs.readdirSync(share.mountPoint)).toEqual([]);
    expect(fs.readdirSync(config.repositoryDir).filter((f) => f.includes('probe'))).toEqual([]);
  });

  it('answers 404 as problem+json for an unknown task and 400 for a malformed id', async () => {
    const api = await administratorClient(stack);
    const missing = await api.get('/api/tasks/diagnostics-does-not-exist');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(missing.body).toMatchObject({ title: 'Task not found', status: 404 });
    const malformed = await api.get(`/api/tasks/${encodeURIComponent('bad id!')}`);
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([{ field: 'params.id', message: 'not a task id' }]);
  });
});
