import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { listObjects } from '../../connectors/vsphere/property-collector';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { run } from '../../lib/processes';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import type { IpsPrepareResult } from '../../workflows/ips-phases';
import { sha256 } from '../compositor/tools';
import { expectWorkerFailures, failureLogged, testDir } from '../harness';
import { engineRecords } from '../offload/helpers';
import { EngineGuests } from '../offload/vsphere-engine-guests';
import { datastoreFiles, vcsimConnector, vcsimConnectorThroughApi } from '../vsphere/fixtures';
import {
  completed,
  eventually,
  fileshareConnector,
  finished,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { exportHive, expectPreparedLikeAppliance, makeVmwareWindowsDisk } from './fixtures';

/**
 * Prepare in a Compositing Engine on vSphere (issue 18): with the vSphere connector's Offload Compositing
 * on, an ipsPrepare for it clones an engine VM from the connector's ceTemplateVm (vcsim, real inventory
 * and datastore), the engine reads the exported disk on the share and writes the prepared copy beside
 * it, and the engine VM is destroyed whatever happens: after a success, a failure and a stop there is
 * no engine VM in vcsim, no VM folder on its datastore, no engine record, no partial copy on the share.
 *
 * vcsim runs no guests: EngineGuests (test/offload) stands in for the engine VM's guest, starting
 * `lamina ce` on this machine with the environment the VM carries in guestinfo and killing it when the
 * VM is powered off or destroyed. On this machine the stand-in reaches the share at its mount point, as
 * a real engine VM does once its template's boot unit has mounted the file-share connector's share
 * there. The same prepare with offload off runs on the appliance and is the reference.
 */

jest.setTimeout(600_000);

const TEMPLATE_VM = 'DC0_C0_RP0_VM0';
let app: Appliance;
let sim: Vcsim;
let vsphereId: string;
let inspector: VsphereConnector;
let guests: EngineGuests;
let share: { id: string; mountPoint: string };
let dir: string;
let onAppliance: IpsPrepareResult;
let goldHash: string;
let vmsBefore: number;

const prepare = (output: string, fileName = 'gold.vhdx') =>
  app.api.post('/api/ips/prepare', {
    shareConnectorId: share.id,
    fileName,
    targetConnectorId: vsphereId,
    output,
    provisioningType: 'MCS',
    DomainUnjoin: true,
    EnableRdp: true,
    XdReconfigure: true,
  });

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance();
  share = await fileshareConnector(app.api);
  dir = testDir('ips-prepare-offload-vsphere');
  const settings = { templateVm: TEMPLATE_VM, ceTemplateVm: TEMPLATE_VM };
  vsphereId = await vcsimConnectorThroughApi(app.api, sim, settings);
  inspector = vcsimConnector(sim, settings);
  guests = new EngineGuests(inspector, testDir('ips-vsphere-engine-guests'));
  await makeVmwareWindowsDisk(share.mountPoint, 'gold.vhdx');
  goldHash = sha256(path.join(share.mountPoint, 'gold.vhdx'));
  vmsBefore = await vmsInFolder();
  onAppliance = await completed<IpsPrepareResult>(app.api, await prepare('appliance.vhdx'));
  const turnedOn = await app.api.patch(`/api/connectors/${vsphereId}`, { offloadCompositing: true });
  expect(turnedOn.status).toBe(200);
}, 600_000);

afterAll(async () => {
  await guests?.stop();
  await inspector?.close();
  await app?.stop();
  await sim?.stop();
});

/** vcsim's VMs in the connector's folder: the template's clones are the engines. */
async function vmsInFolder(): Promise<number> {
  const { client, folder } = await inspector.session();
  return (await listObjects(client, 'VirtualMachine', ['name'], folder.ref)).length;
}

async function expectNoEngine(): Promise<void> {
  expect(await inspector.ce.listEngines()).toEqual([]);
  expect(await vmsInFolder()).toBe(vmsBefore);
  await eventually(async () => guests.running.size === 0);
  expect(datastoreFiles(sim).filter((f) => f.startsWith('lamina-ce-'))).toEqual([]);
  expect(await engineRecords(app)).toBe(0);
}

test('with offload on, an engine VM on vSphere writes the image the appliance writes without it', async () => {
  expect(onAppliance.engineId).toBeUndefined();
  const onEngine = await completed<IpsPrepareResult>(app.api, await prepare('engine.vhdx'));

  expect(onEngine.engineId).toMatch(/^[0-9a-f-]{36}$/);
  expect(onEngine.steps).toEqual(onAppliance.steps);
  const appliancePath = path.join(share.mountPoint, 'appliance.vhdx');
  const enginePath = path.join(share.mountPoint, 'engine.vhdx');
  expect(onEngine.sizeBytes).toBe(fs.statSync(enginePath).size);
  // The engine was the stand-in for the clone's guest: it registered with this task. It reads no layers,
  // so it was launched with no iSCSI initiator name or CHAP secret.
  expect(guests.registered(onEngine.engineId!)).toBe(true);
  const launched = Object.keys(guests.environments.get(onEngine.engineId!)!);
  expect(launched).toEqual(expect.arrayContaining(['LAMINA_CE_ID', 'LAMINA_CE_TOKEN']));
  expect(launched).not.toContain('LAMINA_CE_CHAP_SECRET');
  expect(launched).not.toContain('LAMINA_CE_INITIATOR');
  // The source is left as it was: the engine wrote a copy of it.
  expect(sha256(path.join(share.mountPoint, 'gold.vhdx'))).toBe(goldHash);
  // Prepare stamps what it writes with the time it runs, so the two disks differ in timestamps only:
  // they are compared by what a guest sees, every file's path and both machine hives, and checked whole.
  await run('qemu-img', ['check', '-f', 'vhdx', enginePath]);
  // The image stays on vSphere: VMware Tools stay; the domain is left and RDP turned on.
  const volume = await expectPreparedLikeAppliance(enginePath, appliancePath, dir, 'kept');
  const terminal = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Control\\Terminal Server', dir);
  expect(terminal).toMatch(/"fDenyTSConnections"=dword:00000000/);
  await expectNoEngine();
});

test('a prepare that fails on its engine removes the engine VM and writes nothing', async () => {
  await run('qemu-img', ['create', '-f', 'vhdx', path.join(share.mountPoint, 'blank.vhdx'), '64M']);
  const before = fs.readdirSync(share.mountPoint).sort();
  const started = await prepare('blank-prepared.vhdx', 'blank.vhdx');
  const task = await finished(app.api, started);

  expect(task.state).toBe('failed');
  expect(task.error).toMatch(/no MBR or GPT partition table/);
  await failureLogged(started.body.id);
  expectWorkerFailures({ kind: 'workflow', error: /no MBR or GPT partition table/ });
  await expectNoEngine();
  expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
});

test('a prepare stopped on its engine VM removes the VM and the partial copy', async () => {
  const before = fs.readdirSync(share.mountPoint).sort();
  const started = await prepare('stopped.vhdx');
  expect(started.status).toBe(202);
  // The engine is preparing: its partial copy is on the share.
  await eventually(
    async () =>
      guests.running.size > 0 &&
      fs.readdirSync(share.mountPoint).some((name) => name.startsWith('.stopped.vhdx.')),
    300_000,
  );
  expect(await inspector.ce.listEngines()).toHaveLength(1);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`, {})).status).toBe(200);
  const task = (await finished(app.api, started)) as Task;

  expect(task.state).toBe('cancelled');
  await expectNoEngine();
  expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
});
