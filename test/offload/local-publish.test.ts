import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import type { PublishImageResult } from '../../workflows/publish-image';
import {
  filesUnder,
  completed,
  eventually,
  finished,
  builtLayer,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from '../workflows/fixtures';
import { sha256 } from '../compositor/tools';
import { expectWorkerFailures, failureLogged, testDir } from '../harness';
import {
  composingEngine,
  engineFiles,
  engineIds,
  enginePid,
  engineRecords,
  localCompose,
  offloadEnvironment,
  storagePool,
  targetsShown,
} from './helpers';

/**
 * Offload Compositing on the local connector (issue 17): the publish composes in a Compositing Engine, a
 * `lamina ce` process the connector launches, which reads the layers over iSCSI from the appliance's
 * target (a real tgtd) and writes the image straight into the storage pool. Every case ends with no
 * engine, no engine record, no target and no stray disk.
 */

jest.setTimeout(600_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let app: Appliance;
let os: { layerId: string; versionId: string };
let appVersion: string;
let localImage: string;

beforeAll(async () => {
  app = await startAppliance({ env: await offloadEnvironment() });
  os = await importedOs(app.api, await goldImage());
  appVersion = (await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'offloaded' }))
    .versionId;
  const turnedOn = await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: true });
  expect(turnedOn.status).toBe(200);
  localImage = path.join(testDir('offload-local'), 'local.vhdx');
  await localCompose(app, { os: os.versionId, apps: [appVersion] }, localImage, 2);
});

afterAll(() => app?.stop());

async function expectNothingLeft(): Promise<void> {
  await eventually(async () => engineFiles(app).length === 0);
  expect(await engineRecords(app)).toBe(0);
  expect(targetsShown(app)).not.toMatch(/Target \d+:/);
  expect(filesUnder(path.join(storagePool(app), 'disks'))).toEqual([]);
}

const publish = async (name: string) =>
  app.api.post(
    `/api/templates/${await template(app.api, { name, osVersionId: os.versionId, appVersionIds: [appVersion], connectorId: LOCAL_CONNECTOR })}/publish`,
  );

test('an offloaded publish writes, through an engine, the image a local compose writes', async () => {
  const result = await completed<PublishImageResult>(app.api, await publish('Offloaded'));

  expect(result.compositedBy).toEqual({ engineId: expect.stringMatching(UUID), enginesLaunched: 1 });
  expect(result.sha256).toBe(sha256(localImage));
  const snapshotDisk = path.join(
    storagePool(app),
    'vms',
    result.vm!.id,
    'snapshots',
    result.name,
    'boot.vhdx',
  );
  expect(execFileSync('qemu-img', ['compare', '-q', localImage, snapshotDisk]).toString()).toBe('');
  await expectNothingLeft();
});

test('an engine killed mid-compose is replaced, and the image is the same', async () => {
  const started = await publish('Killed');
  const pid = await composingEngine(app);
  const killed = engineIds(app).find((id) => enginePid(app, id) === pid);
  expect(killed).toMatch(UUID);
  // The whole engine at once, as a VM that dies: the worker and its lamina_ntfs children.
  process.kill(-pid, 'SIGKILL');
  const result = await completed<PublishImageResult>(app.api, started);

  expect(result.sha256).toBe(sha256(localImage));
  expect(result.compositedBy?.enginesLaunched).toBe(2);
  const history = await app.stack.client.workflow
    .getHandle(`${started.body.id}-offload-compose`)
    .fetchHistory();
  const engines = (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createCompositingEngine',
  );
  expect(engines).toHaveLength(2);
  // The result names the engine that finished the compose, not the one killed.
  expect(result.compositedBy?.engineId).toMatch(UUID);
  expect(result.compositedBy?.engineId).not.toBe(killed);
  await expectNothingLeft();
});

test('a stopped offloaded publish removes the engine, the target and the partial disk', async () => {
  const started = await publish('Stopped');
  await composingEngine(app);
  expect(targetsShown(app)).toMatch(/Target \d+:/);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
  const task = await finished(app.api, started);

  expect(task.state).toBe('cancelled');
  await expectNothingLeft();
});

test('an engine whose CHAP secret the target refuses fails the task, naming the CHAP user', async () => {
  const started = await publish('Refused');
  // The target's account changes under the engine before it logs in (tgtd's own tool): the engine's
  // secret is now a wrong one.
  // Complete once its ACL names the engines' initiator: the target's maker binds that last.
  const shown = await eventually(async () => {
    const text = targetsShown(app);
    return /ACL information:\s+iqn\./.test(text) ? text : undefined;
  });
  const tid = /Target (\d+):/.exec(shown)![1];
  const user = /Account information:\s+(\S+)/.exec(shown)![1];
  const tgtadm = (...args: string[]) => {
    const run = spawnSync('tgtadm', ['-C', String(app.config.iscsi.controlPort), '--lld', 'iscsi', ...args]);
    expect(run.status).toBe(0);
  };
  tgtadm('--mode', 'account', '--op', 'delete', '--user', user);
  tgtadm('--mode', 'account', '--op', 'new', '--user', user, '--password', 'not-the-engines-secret');
  tgtadm('--mode', 'account', '--op', 'bind', '--tid', tid, '--user', user);
  const task = await finished(app.api, started);

  expect(task.state).toBe('failed');
  expect(task.error).toContain(`CHAP user '${user}' not accepted`);
  await failureLogged(started.body.id);
  expectWorkerFailures({ kind: 'workflow', error: /not accepted/ });
  await expectNothingLeft();
});
