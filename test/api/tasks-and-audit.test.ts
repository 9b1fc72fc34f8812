import { randomUUID } from 'node:crypto';
import type { LaminaConfig } from '../../config/env';
import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';
import { administratorClient, ApiClient, sessionClient } from '../api-client';

/** Visibility and the audit log are written just after the answer; poll briefly instead of sleeping. */
async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('tasks (list, stop, retry) and the audit log', () => {
  let db: TestDatabase;
  let config: LaminaConfig;
  let api: Stack;
  let worker: Stack | undefined;
  let admin: ApiClient;
  let contributor: ApiClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    config = testConfig(db.url, { LAMINA_ADMIN_PASSWORD: 'audit-admin-password' });
    // No worker yet: tasks stay running until the test starts one.
    api = await startTestStack(config, { worker: false });
    admin = await administratorClient(api);
    const dn = 'cn=tim,ou=people,dc=example,dc=com';
    await api.pool.query(
      `INSERT INTO role_assignments (id, role, principal_type, principal) VALUES ($1, 'Image Template Contributor', 'user', $2)`,
      [randomUUID(), dn],
    );
    contributor = await sessionClient(api, { name: 'tim@example.com', kind: 'directory', dn, groups: [] });
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await db?.drop();
  });

  it('stops a running task (cancel) and retries it as a new run', async () => {
    const started = (await admin.post('/api/tasks/diagnostics')).body;
    expect((await contributor.post(`/api/tasks/${started.id}/stop`)).status).toBe(403); // not theirs
    const stopped = await admin.post(`/api/tasks/${started.id}/stop`);
    expect(stopped.status).toBe(200);
    expect((await admin.post(`/api/tasks/${started.id}/retry`)).status).toBe(409); // still running

    worker = await startTestStack(config, { api: false, worker: true });
    const cancelled = await admin.get(`/api/tasks/${started.id}/wait?timeout=60`);
    expect(cancelled.body.state).toBe('cancelled');
    expect((await admin.post(`/api/tasks/${started.id}/stop`)).status).toBe(409);

    const retried = await admin.post(`/api/tasks/${started.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ type: 'diagnostics', user: 'administrator' });
    expect(retried.body.id).not.toBe(started.id);
    const done = await admin.get(`/api/tasks/${retried.body.id}/wait?timeout=60`);
    expect(done.body.state).toBe('completed');
  });

  it('lists tasks from Temporal visibility, filtered and paged', async () => {
    const local = (await admin.get('/api/connectors?type=local')).body.items[0];
    const test = (await admin.post(`/api/connectors/${local.id}/test`)).body;
    await admin.get(`/api/tasks/${test.id}/wait?timeout=60`);

    const all = await eventually(
      () => admin.get('/api/tasks'),
      (r) => r.body.items?.length >= 3,
    );
    expect(all.body.items.map((t: { type: string }) => t.type).sort()).toEqual([
      'diagnostics',
      'diagnostics',
      'testConnector',
    ]);
    const byObject = await eventually(
      () => admin.get(`/api/tasks?object=${local.id}`),
      (r) => r.body.items?.length === 1,
    );
    expect(byObject.body.items[0]).toMatchObject({
      id: test.id,
      type: 'testConnector',
      user: 'administrator',
    });
    const cancelled = await eventually(
      () => admin.get('/api/tasks?type=diagnostics&state=cancelled'),
      (r) => r.body.items?.length === 1,
    );
    expect(cancelled.body.items).toHaveLength(1);
    expect((await admin.get('/api/tasks?user=nobody@example.com')).body.items).toEqual([]);
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await admin.get(`/api/tasks?since=${future}`)).body.items).toEqual([]);

    const first = await admin.get('/api/tasks?pageSize=2');
    expect(first.body.items).toHaveLength(2);
    const second = await admin.get(`/api/tasks?pageSize=2&pageToken=${first.body.nextPageToken}`);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextPageToken).toBeUndefined();

    const bad = await admin.get(`/api/tasks?user=${encodeURIComponent("x' OR 1=1")}&state=sleeping`);
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'query.state',
      'query.user',
    ]);
  });

  it('records every mutating request: who, roles, action, object, outcome', async () => {
    const created = await admin.post('/api/layers', { type: 'os', name: 'Audited OS' });
    await contributor.post('/api/layers', { type: 'os', name: 'Not allowed' });
    await new ApiClient(api.apiUrl!).post('/api/auth/login', {
      username: 'administrator',
      password: 'wrong-password',
    });
    await admin.post('/api/connectors', {
      type: 'vsphere',
      name: 'Bad one',
      settings: {},
      secrets: { password: 'never-in-the-audit-log' },
    });
    await admin.get('/api/layers');

    const entries = (
      await eventually(
        () => admin.get('/api/audit?pageSize=200'),
        (r) => r.body.items?.some((e: { action: string }) => e.action === 'createConnector'),
      )
    ).body.items as Record<string, unknown>[];
    expect(entries.find((e) => e.action === 'createLayer' && e.outcome === 'success')).toMatchObject({
      actor: 'administrator',
      roles: ['Administrator'],
      objectId: created.body.id,
      status: 201,
    });
    expect(entries.find((e) => e.action === 'createLayer' && e.outcome === 'denied')).toMatchObject({
      actor: 'tim@example.com',
      roles: ['Image Template Contributor'],
      status: 403,
      detail: 'Permission denied',
    });
    expect(entries.find((e) => e.action === 'login' && e.status === 401)).toMatchObject({
      actor: 'administrator',
      outcome: 'denied',
      detail: 'Sign-in failed',
    });
    expect(entries.find((e) => e.action === 'createConnector')).toMatchObject({
      outcome: 'failure',
      status: 400,
    });
    expect(entries.some((e) => e.action === 'listLayers')).toBe(false);
    expect(entries.find((e) => e.action === 'stopTask')).toBeDefined();
    expect(JSON.stringify(entries)).not.toContain('never-in-the-audit-log');
    expect(JSON.stringify(entries)).not.toContain('wrong-password');

    const filtered = await admin.get('/api/audit?actor=tim@example.com&outcome=denied');
    expect(filtered.body.items.every((e: { actor: string }) => e.actor === 'tim@example.com')).toBe(true);
    expect((await contributor.get('/api/audit')).status).toBe(403);
  });

  it('keeps the audit log append-only, even for the database owner', async () => {
    await expect(api.pool.query(`UPDATE audit_log SET actor = 'someone else'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(api.pool.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(api.pool.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });
});
