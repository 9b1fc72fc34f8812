import type { Stack } from '../../runtime/stack';
import {
  createTestDatabase,
  expectWorkerFailures,
  startTestStack,
  testConfig,
  testDir,
  workerLogText,
  type TestDatabase,
} from '../harness';
import { administratorClient, type ApiClient } from '../api-client';
import { EXAMPLE_VSPHERE_SETTINGS } from '../connectors/example-settings';

const VSPHERE_PASSWORD = 'vSphere-S3cret-Pa55';

const vsphere = (name: string) => ({
  type: 'vsphere',
  name,
  settings: EXAMPLE_VSPHERE_SETTINGS,
  secrets: { password: VSPHERE_PASSWORD },
});

describe('connector configurations', () => {
  let db: TestDatabase;
  let stack: Stack;
  let api: ApiClient;
  const logged: string[] = [];
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    // Everything the process logs is kept, to prove no secret reaches a log.
    for (const method of ['log', 'error', 'warn', 'info'] as const) {
      spies.push(
        jest.spyOn(console, method).mockImplementation((...args) => void logged.push(args.join(' '))),
      );
    }
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url));
    api = await administratorClient(stack);
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    spies.forEach((s) => s.mockRestore());
  });

  it('creates a vSphere connector with its recommended packaging cache, never echoing the password', async () => {
    const created = await api.post('/api/connectors', vsphere('vSphere production'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      type: 'vsphere',
      name: 'vSphere production',
      packagingCacheGb: 250,
      packagingCacheHitRate: null,
      offloadCompositing: false,
      secretsSet: { password: true },
      implemented: true,
    });
    expect(created.text).not.toContain(VSPHERE_PASSWORD);
    expect((await api.get(`/api/connectors/${created.body.id}`)).text).not.toContain(VSPHERE_PASSWORD);
    expect((await api.get('/api/connectors')).text).not.toContain(VSPHERE_PASSWORD);

    // At rest: AES-256-GCM under the master key, not the password.
    const { rows } = await stack.pool.query('SELECT secrets::text AS s FROM connectors WHERE id = $1', [
      created.body.id,
    ]);
    expect(rows[0].s).not.toContain(VSPHERE_PASSWORD);
    expect(JSON.parse(rows[0].s).password).toEqual({
      kid: expect.stringMatching(/^[0-9a-f]{16}$/),
      iv: expect.any(String),
      tag: expect.any(String),
      data: expect.any(String),
    });
  });

  it('names each wrong field of a per-type schema', async () => {
    const response = await api.post('/api/connectors', {
      type: 'vsphere',
      name: '',
      settings: { vcenter: 'not a host!', user: 'u' },
      secrets: { password: '', extra: 'x' },
      packagingCacheGb: -1,
    });
    expect(response.status).toBe(400);
    const fields = response.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'body.name',
        'body.settings.vcenter',
        'body.settings.datacenter',
        'body.settings.host',
        'body.settings.datastore',
        'body.settings.network',
        'body.secrets.password',
        'body.secrets',
        'body.packagingCacheGb',
      ]),
    );
    const unknownType = await api.post('/api/connectors', { type: 'floppy', name: 'x', settings: {} });
    expect(unknownType.status).toBe(400);
    expect(unknownType.body.errors[0].field).toBe('body.type');
  });

  it('refuses a packaging cache on Azure, which has none', async () => {
    const response = await api.post('/api/connectors', {
      type: 'azure',
      name: 'Azure',
      settings: {
        tenantId: '6f1c1f5e-3b7a-4c5e-9d7f-0a1b2c3d4e5f',
        subscriptionId: '0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f',
        clientId: '1a2b3c4d-1111-4c5e-9d7f-0a1b2c3d4e5f',
        resourceGroup: 'rg',
        location: 'westeurope',
        storageAccount: 'laminastore',
        container: 'images',
        subnetId: '/subscriptions/x/subnets/default',
      },
      secrets: { clientSecret: 'azure-secret-value' },
      packagingCacheGb: 100,
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'body.packagingCacheGb', message: 'this connector type has no packaging cache; leave it 0' },
    ]);
  });

  it('edits settings against the stored type, keeps an omitted secret and clears a null one', async () => {
    const { body: created } = await api.post('/api/connectors', vsphere('vSphere edit'));
    const bad = await api.patch(`/api/connectors/${created.id}`, { settings: { vcenter: 'vc' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toContain('body.settings.datacenter');

    const renamed = await api.patch(`/api/connectors/${created.id}`, {
      name: 'vSphere renamed',
      packagingCacheGb: 0,
    });
    expect(renamed.body).toMatchObject({
      name: 'vSphere renamed',
      packagingCacheGb: 0,
      secretsSet: { password: true },
    });
    const cleared = await api.patch(`/api/connectors/${created.id}`, { secrets: { password: null } });
    expect(cleared.body.secretsSet).toEqual({ password: false });
    const duplicate = await api.patch(`/api/connectors/${created.id}`, { name: 'vSphere production' });
    expect(duplicate.status).toBe(409);
  });

  it('tests a connector through a task, naming the unreachable vCenter, and the secret stays out of history', async () => {
    const { body: connector } = await api.get('/api/connectors?type=vsphere&name=production');
    const id = connector.items[0].id;
    const started = await api.post(`/api/connectors/${id}/test`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ type: 'testConnector', objectId: id, user: 'administrator' });
    const done = await api.get(`/api/tasks/${started.body.id}/wait?timeout=60`);
    expect(done.body).toMatchObject({
      state: 'completed',
      result: {
        ok: false,
        checks: [
          {
            field: 'vcenter',
            ok: false,
            message: expect.stringMatching(/cannot reach vCenter at vcenter\.example\.com/),
          },
        ],
      },
    });
    const history = await stack.client.workflow.getHandle(started.body.id).fetchHistory();
    expect(JSON.stringify(history)).not.toContain(VSPHERE_PASSWORD);
    expect(Buffer.from(JSON.stringify(history)).toString('base64')).not.toContain(
      Buffer.from(VSPHERE_PASSWORD).toString('base64'),
    );
  });

  it('tests the local connector and names the field when its storage pool is unusable', async () => {
    const pool = testDir('pool');
    const { body: good } = await api.post('/api/connectors', {
      type: 'local',
      name: 'Local ok',
      settings: { storagePool: pool },
    });
    const { body: bad } = await api.post('/api/connectors', {
      type: 'local',
      name: 'Local bad',
      settings: { storagePool: 'relative/path' },
    });
    const run = async (id: string) => {
      const started = await api.post(`/api/connectors/${id}/test`);
      return (await api.get(`/api/tasks/${started.body.id}/wait?timeout=60`)).body.result;
    };
    expect(await run(good.id)).toMatchObject({ ok: true, checks: [{ field: 'storagePool', ok: true }] });
    expect(await run(bad.id)).toMatchObject({ ok: false, checks: [{ field: 'storagePool', ok: false }] });
  });

  it('refuses to delete a connector a template or layer uses, naming them', async () => {
    const { body: connector } = await api.post('/api/connectors', {
      type: 'local',
      name: 'Local in use',
      settings: { storagePool: testDir('pool') },
    });
    await api.post('/api/layers', {
      type: 'os',
      name: 'Windows 11 (packaged here)',
      connectorId: connector.id,
    });
    const refused = await api.delete(`/api/connectors/${connector.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      title: 'Connector configuration in use',
      detail: expect.stringContaining("layer 'Windows 11 (packaged here)'"),
      usedBy: { 'image template': [], layer: ['Windows 11 (packaged here)'] },
    });
    const unused = await api.post('/api/connectors', {
      type: 'local',
      name: 'Local unused',
      settings: { storagePool: '/tmp/x' },
    });
    expect((await api.delete(`/api/connectors/${unused.body.id}`)).status).toBe(204);
    expect((await api.get(`/api/connectors/${unused.body.id}`)).status).toBe(404);
  });

  it('lists connector types with their settings as JSON Schema', async () => {
    const types = await api.get('/api/connectors/types');
    expect(types.body.map((t: { type: string }) => t.type)).toEqual([
      'local',
      'fileshare',
      'vsphere',
      'azure',
      'pvs',
      'hyperv',
      'xenserver',
      'nutanix',
    ]);
    const vsphereType = types.body.find((t: { type: string }) => t.type === 'vsphere');
    expect(vsphereType).toMatchObject({
      secretFields: ['password'],
      defaultPackagingCacheGb: 250,
      implemented: true,
    });
    expect(vsphereType.settings.required).toEqual(
      expect.arrayContaining(['vcenter', 'user', 'datacenter', 'host', 'datastore', 'network']),
    );
  });

  it('fails the test of a connector whose secret is sealed under a master key the appliance no longer holds', async () => {
    const { body: created } = await api.post('/api/connectors', vsphere('vSphere retired key'));
    await stack.pool.query(
      `UPDATE connectors SET secrets = jsonb_set(secrets, '{password,kid}', '"retired-key"') WHERE id = $1`,
      [created.id],
    );
    const started = await api.post(`/api/connectors/${created.id}/test`);
    const done = await api.get(`/api/tasks/${started.body.id}/wait?timeout=60`);
    expect(done.body).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/master key retired-key/),
    });
    expectWorkerFailures(
      { type: 'runConnectorTest', error: /master key retired-key/ },
      { kind: 'workflow', error: /master key retired-key/ },
    );
  });

  it('never logs a secret', () => {
    // The failed test above went through the worker's log: this searches what a failure writes.
    expect(workerLogText()).toMatch(/^WARN Activity failed .*activityType: 'runConnectorTest'/ms);
    const text = [...logged, workerLogText()].join('\n');
    expect(text).not.toContain(VSPHERE_PASSWORD);
    expect(text).not.toContain('azure-secret-value');
  });
});
