import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';
import { administratorClient, type ApiClient } from '../api-client';

/**
 * A connector type this build declares but has no code for (Hyper-V here) is stored and validated, but
 * refused with a 422 naming the type as soon as something would use it: a template that publishes
 * through it, or a connector test. Nothing is started only to fail after retries.
 */
describe('connector types without an implementation', () => {
  let db: TestDatabase;
  let stack: Stack;
  let api: ApiClient;
  let hypervId: string;
  let localId: string;
  let template: Record<string, unknown>;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url), { worker: false });
    api = await administratorClient(stack);
    const hyperv = await api.post('/api/connectors', {
      type: 'hyperv',
      name: 'Hyper-V lab',
      settings: { host: 'hv1', user: 'EXAMPLE\\svc', storagePath: 'D:\\Lamina', virtualSwitch: 'LAN' },
    });
    expect(hyperv.status).toBe(201);
    expect(hyperv.body.implemented).toBe(false);
    hypervId = hyperv.body.id;
    localId = (await api.get('/api/connectors?type=local')).body.items[0].id;

    // Versions become Deployable through tasks; here the test plays the task.
    const os = (await api.post('/api/layers', { type: 'os', name: 'Windows 11' })).body.id;
    const version = (await api.post(`/api/layers/${os}/versions`, { version: '1' })).body.id;
    await stack.pool.query(`UPDATE layer_versions SET state = 'Deployable', size_bytes = $2 WHERE id = $1`, [
      version,
      20 * 1024 ** 3,
    ]);
    template = { osVersionId: version, diskSizeGb: 60, diskFormat: 'VHDX', firmware: 'UEFI' };
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  const notInBuild = {
    status: 422,
    title: 'Connector type not implemented',
    detail: expect.stringMatching(
      /^connector 'Hyper-V lab' is of type 'hyperv' \(Microsoft Hyper-V\), which is not implemented in this build/,
    ),
  };

  it('refuses a template whose connector type is not implemented, on create and on edit', async () => {
    const created = await api.post('/api/templates', { ...template, name: 'Lab', connectorId: hypervId });
    expect(created.status).toBe(422);
    expect(created.body).toMatchObject({
      ...notInBuild,
      errors: [{ field: 'body.connectorId', message: expect.stringContaining("type 'hyperv'") }],
    });
    expect((await api.get('/api/templates?name=Lab')).body.total).toBe(0);

    const local = await api.post('/api/templates', { ...template, name: 'Lab', connectorId: localId });
    expect(local.status).toBe(201);
    const edited = await api.patch(`/api/templates/${local.body.id}`, { connectorId: hypervId });
    expect(edited.status).toBe(422);
    expect(edited.body).toMatchObject(notInBuild);
    expect((await api.get(`/api/templates/${local.body.id}`)).body.connectorId).toBe(localId);
  });

  it('refuses to start a test of such a connector', async () => {
    const tested = await api.post(`/api/connectors/${hypervId}/test`);
    expect(tested.status).toBe(422);
    expect(tested.body).toMatchObject({
      ...notInBuild,
      errors: [{ field: 'params.id', message: expect.stringContaining("type 'hyperv'") }],
    });
    expect(tested.headers.get('location')).toBeNull();
  });

  it('lists each type with whether this build implements it and what it offers', async () => {
    const types = (await api.get('/api/connectors/types')).body as {
      type: string;
      implemented: boolean;
      capabilities: string[];
    }[];
    expect(types.map((t) => [t.type, t.implemented, t.capabilities])).toEqual([
      ['local', true, ['vms']],
      ['fileshare', true, ['images']],
      ['vsphere', true, ['vms']],
      ['azure', true, ['upload']],
      ['pvs', false, ['images']],
      ['hyperv', false, ['vms']],
      ['xenserver', false, ['vms']],
      ['nutanix', false, ['vms']],
    ]);
  });
});
