import path from 'node:path';
import { expectWorkerFailures, failureLogged } from '../harness';
import {
  builtLayer,
  eventually,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from '../workflows/fixtures';
import { engineFiles, engineRecords, offloadEnvironment, storagePool, targetsShown } from './helpers';

/**
 * A Compositing Engine that never registers (issue 17 §4): here the engines are told to reach the
 * appliance at 127.0.0.2, where nothing of it listens, so each starts, cannot reach Temporal and never
 * registers. The task fails after the registration time (3 s here, LAMINA_CE_REGISTRATION_SECONDS)
 * naming the engine, and removes it with the target: nothing is left.
 */

jest.setTimeout(300_000);

let app: Appliance;

beforeAll(async () => {
  app = await startAppliance({
    env: await offloadEnvironment({ LAMINA_CE_ADDRESS: '127.0.0.2', LAMINA_CE_REGISTRATION_SECONDS: '3' }),
  });
});

afterAll(() => app?.stop());

test('the task fails after the registration time and removes the engine and the target', async () => {
  const os = await importedOs(app.api, await goldImage());
  const tools = await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'x' });
  expect(
    (await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: true })).status,
  ).toBe(200);
  const templateId = await template(app.api, {
    name: 'Unregistered',
    osVersionId: os.versionId,
    appVersionIds: [tools.versionId],
    connectorId: LOCAL_CONNECTOR,
  });
  const started = await app.api.post(`/api/templates/${templateId}/publish`);
  const task = await finished(app.api, started);

  expect(task.state).toBe('failed');
  expect(task.error).toMatch(
    /^Compositing Engine [0-9a-f-]{36} did not register within 3 s; it was removed$/,
  );
  await failureLogged(started.body.id);
  expectWorkerFailures(
    { kind: 'workflow', type: 'offloadCompose', error: /did not register within 3 s/ },
    { kind: 'workflow', type: 'publishImage', error: /did not register within 3 s/ },
  );
  await eventually(async () => engineFiles(app).length === 0);
  expect(await engineRecords(app)).toBe(0);
  expect(targetsShown(app)).not.toMatch(/Target \d+:/);
  expect(filesUnder(path.join(storagePool(app), 'disks'))).toEqual([]);
  expect(filesUnder(path.join(storagePool(app), 'vms'))).toEqual([]);
});
