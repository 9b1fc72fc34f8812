import type { LaminaConfig } from '../../config/env';
import { TASK_TYPE_KEY, USER_KEY } from '../../domain/search-attributes';
import type { TaskState } from '../../domain/tasks';
import type { Stack } from '../../runtime/stack';
import {
  createTestDatabase,
  expectWorkerFailures,
  startTestStack,
  testConfig,
  type TestDatabase,
} from '../harness';
import { administratorClient, type ApiClient } from '../api-client';
import { EXAMPLE_VSPHERE_SETTINGS } from '../connectors/example-settings';

/**
 * Every state a task can be in, as the task itself (GET /api/tasks/:id) and the list (Temporal
 * visibility, GET /api/tasks?state=…) show it. The list once showed stopped tasks as running: it read
 * Temporal's status by name and missed the one-L `CANCELED`.
 */
describe('task states', () => {
  let db: TestDatabase;
  let config: LaminaConfig;
  let api: Stack;
  let worker: Stack | undefined;
  let admin: ApiClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    config = testConfig(db.url);
    // No worker at first: a started task stays running until the test starts one.
    api = await startTestStack(config, { worker: false });
    admin = await administratorClient(api);
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await db?.drop();
  });

  /** The task's own state, and the state the list filtered by it shows (visibility lags a little). */
  async function expectState(id: string, state: TaskState): Promise<void> {
    expect((await admin.get(`/api/tasks/${id}`)).body).toMatchObject({ id, state });
    const deadline = Date.now() + 15_000;
    let listed: { id: string; state: string } | undefined;
    while (!listed && Date.now() < deadline) {
      const page = await admin.get(`/api/tasks?state=${state}&pageSize=200`);
      listed = page.body.items.find((t: { id: string }) => t.id === id);
      if (!listed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(listed).toMatchObject({ id, state });
    const all = await admin.get('/api/tasks?pageSize=200');
    expect(all.body.items.find((t: { id: string }) => t.id === id)).toMatchObject({ state });
  }

  const startDiagnostics = async (): Promise<string> => (await admin.post('/api/tasks/diagnostics')).body.id;

  it('shows running, terminated, timed-out, stopped (cancelled), completed and failed tasks as such', async () => {
    const running = await startDiagnostics();
    await expectState(running, 'running');

    const terminated = await startDiagnostics();
    await api.client.workflow.getHandle(terminated).terminate('ended by force in the test');
    await expectState(terminated, 'terminated');

    // A task whose run may take one second, started where no worker listens: Temporal times it out.
    const timedOut = `diagnostics-timed-out-${Date.now()}`;
    const handle = await api.client.workflow.start('diagnostics', {
      workflowId: timedOut,
      taskQueue: config.taskQueue,
      args: [],
      workflowExecutionTimeout: '1s',
      typedSearchAttributes: [
        { key: TASK_TYPE_KEY, value: 'diagnostics' },
        { key: USER_KEY, value: 'administrator' },
      ],
    });
    await handle.result().catch(() => undefined);
    await expectState(timedOut, 'timed_out');

    const stopped = await startDiagnostics();
    expect((await admin.post(`/api/tasks/${stopped}/stop`)).status).toBe(200);

    worker = await startTestStack(config, { api: false, worker: true });
    expect((await admin.get(`/api/tasks/${stopped}/wait?timeout=60`)).body.state).toBe('cancelled');
    await expectState(stopped, 'cancelled');
    expect((await admin.get(`/api/tasks/${running}/wait?timeout=60`)).body.state).toBe('completed');
    await expectState(running, 'completed');

    // A connector test that cannot open its secret (sealed under a master key this appliance lacks) fails.
    const vsphere = await admin.post('/api/connectors', {
      type: 'vsphere',
      name: 'vSphere retired key',
      settings: EXAMPLE_VSPHERE_SETTINGS,
      secrets: { password: 'vSphere-S3cret-Pa55' },
    });
    await api.pool.query(
      `UPDATE connectors SET secrets = jsonb_set(secrets, '{password,kid}', '"retired-key"') WHERE id = $1`,
      [vsphere.body.id],
    );
    const failed = (await admin.post(`/api/connectors/${vsphere.body.id}/test`)).body.id;
    expect((await admin.get(`/api/tasks/${failed}/wait?timeout=60`)).body.state).toBe('failed');
    await expectState(failed, 'failed');
    expectWorkerFailures(
      { type: 'runConnectorTest', error: /master key retired-key/ },
      { kind: 'workflow', error: /master key retired-key/ },
    );
  });
});
