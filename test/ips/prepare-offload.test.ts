import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { run } from '../../lib/processes';
import type { IpsPrepareResult } from '../../workflows/ips-phases';
import { engineFiles, engineIds, engineRecords } from '../offload/helpers';
import {
  completed,
  eventually,
  fileshareConnector,
  LOCAL_CONNECTOR,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { testDir } from '../harness';
import { exportHive, expectPreparedLikeAppliance, makeVmwareWindowsDisk } from './fixtures';

/**
 * Prepare in a Compositing Engine (issue 18): with the local connector's Offload Compositing on, an
 * ipsPrepare for it runs in a `lamina ce` process the connector launches, which reads the disk from the
 * share and writes the prepared copy back there; the engine is removed afterwards. The same prepare with
 * offload off runs on the appliance and is the reference.
 */

jest.setTimeout(600_000);

let app: Appliance;
let share: { id: string; mountPoint: string };
let dir: string;
let onAppliance: IpsPrepareResult;

const prepare = (output: string) =>
  app.api.post('/api/ips/prepare', {
    shareConnectorId: share.id,
    fileName: 'gold.vhdx',
    targetConnectorId: LOCAL_CONNECTOR,
    output,
    provisioningType: 'MCS',
    DomainUnjoin: true,
    EnableRdp: true,
    XdReconfigure: true,
  });

beforeAll(async () => {
  app = await startAppliance();
  share = await fileshareConnector(app.api);
  dir = testDir('ips-prepare-offload');
  await makeVmwareWindowsDisk(share.mountPoint, 'gold.vhdx');
  onAppliance = await completed<IpsPrepareResult>(app.api, await prepare('appliance.vhdx'));
  const turnedOn = await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: true });
  expect(turnedOn.status).toBe(200);
}, 600_000);

afterAll(() => app?.stop());

async function expectNoEngine(): Promise<void> {
  await eventually(async () => engineFiles(app).length === 0);
  expect(await engineRecords(app)).toBe(0);
}

test('with offload on, an engine writes the image the appliance writes without it', async () => {
  expect(onAppliance.engineId).toBeUndefined();
  const onEngine = await completed<IpsPrepareResult>(app.api, await prepare('engine.vhdx'));

  expect(onEngine.engineId).toMatch(/^[0-9a-f-]{36}$/);
  expect(onEngine.steps).toEqual(onAppliance.steps);
  const appliancePath = path.join(share.mountPoint, 'appliance.vhdx');
  const enginePath = path.join(share.mountPoint, 'engine.vhdx');
  expect(onEngine.sizeBytes).toBe(fs.statSync(enginePath).size);
  // Prepare stamps what it writes with the time it runs, so the two disks differ in timestamps only:
  // they are compared by what a guest sees, every file's path and both machine hives, and checked whole.
  await run('qemu-img', ['check', '-f', 'vhdx', enginePath]);
  const volume = await expectPreparedLikeAppliance(enginePath, appliancePath, dir, 'removed');
  const terminal = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Control\\Terminal Server', dir);
  expect(terminal).toMatch(/"fDenyTSConnections"=dword:00000000/);
  await expectNoEngine();
});

test('a prepare stopped on its engine removes the engine and the partial copy', async () => {
  const before = fs.readdirSync(share.mountPoint).sort();
  const started = await prepare('stopped.vhdx');
  expect(started.status).toBe(202);
  // The engine is preparing: its partial copy is on the share.
  await eventually(
    async () =>
      engineIds(app).length > 0 &&
      fs.readdirSync(share.mountPoint).some((name) => name.startsWith('.stopped.vhdx.')),
    300_000,
  );
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`, {})).status).toBe(200);
  let task: Task;
  do task = (await app.api.get(`/api/tasks/${started.body.id}/wait?timeout=30`)).body as Task;
  while (task.state === 'running');

  expect(task.state).toBe('cancelled');
  await expectNoEngine();
  expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
});
