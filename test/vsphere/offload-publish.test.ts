import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { findTemplateVm } from '../../connectors/vsphere/inventory';
import { waitForTask } from '../../connectors/vsphere/tasks';
import { moRefOf } from '../../connectors/vsphere/vim-fault';
import { hardwareOf } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { fragment, xml } from '../../connectors/vsphere/xml';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import type { PublishImageResult } from '../../workflows/publish-image';
import { expectWorkerFailures, testDir } from '../harness';
import { sha256 } from '../compositor/tools';
import { coreChildrenOf, localCompose, offloadEnvironment, targetsShown } from '../offload/helpers';
import { EngineGuests } from '../offload/vsphere-engine-guests';
import {
  builtLayer,
  completed,
  eventually,
  finished,
  goldImage,
  importedOs,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { datastoreFiles, qemuCompare, vcsimConnector, vcsimConnectorThroughApi } from './fixtures';

/**
 * Offload Compositing on vSphere (issue 17): the publish clones a Compositing Engine VM from the
 * connector's engine template VM, the engine reads the layers over iSCSI from the appliance's target
 * (a real tgtd) and writes the image into the datastore as a hosted sparse VMDK (only allocated grains
 * travel), the master image VM is made from that disk, and the engine VM and the target are removed.
 *
 * vcsim runs no guests: EngineGuests stands in for the engine VM's guest. For each engine VM that
 * vcsim powers on, it starts `lamina ce` on this machine with the environment the VM carries in
 * guestinfo (what the template's boot unit does in a real engine VM), and kills it when the VM is
 * powered off or destroyed. Everything else is real: vcsim's inventory and datastore folder (the bytes
 * the engine PUT through the /folder service), Temporal, Postgres, tgtd, the compositor.
 */

jest.setTimeout(600_000);

const TEMPLATE_VM = 'DC0_C0_RP0_VM0';
let app: Appliance;
let sim: Vcsim;
let connectorId: string;
let inspector: VsphereConnector;
let guests: EngineGuests;
let os: { layerId: string; versionId: string };
let appVersion: string;
let localImage: string;

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance({ env: await offloadEnvironment() });
  os = await importedOs(app.api, await goldImage());
  appVersion = (await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'offloaded' }))
    .versionId;
  const settings = { templateVm: TEMPLATE_VM, ceTemplateVm: TEMPLATE_VM };
  connectorId = await vcsimConnectorThroughApi(app.api, sim, settings);
  expect((await app.api.patch(`/api/connectors/${connectorId}`, { offloadCompositing: true })).status).toBe(
    200,
  );
  inspector = vcsimConnector(sim, settings);
  await askForSecureBootAndVtpm(TEMPLATE_VM);
  guests = new EngineGuests(inspector, testDir('vsphere-engine-guests'));
  localImage = path.join(testDir('vsphere-offload-local'), 'local.vhdx');
  await localCompose(app, { os: os.versionId, apps: [appVersion] }, localImage, 1);
});

afterAll(async () => {
  await guests?.stop();
  await inspector?.close();
  await app?.stop();
  await sim?.stop();
});

/** The template VM asks for UEFI with secure boot and a vTPM (vcsim needs no key provider for one). */
async function askForSecureBootAndVtpm(vmName: string): Promise<void> {
  const { client, datacenter } = await inspector.session();
  const vm = await findTemplateVm(client, datacenter, vmName);
  const spec = xml(
    'spec',
    fragment(
      xml(
        'deviceChange',
        fragment(xml('operation', 'add'), xml('device', xml('key', -1), { 'xsi:type': 'VirtualTPM' })),
      ),
      xml('bootOptions', xml('efiSecureBootEnabled', true)),
      xml('firmware', 'efi'),
    ),
  );
  const response = await client.invoke('ReconfigVM_Task', vm, spec);
  await waitForTask(client, moRefOf(response.child('returnval')!), 'template VM with secure boot and vTPM');
  expect(await hardwareOf(client, vm)).toMatchObject({ firmware: 'efi', secureBoot: true, vtpm: true });
}

async function publish(name: string, connector = connectorId) {
  const created = await app.api.post('/api/templates', {
    name,
    osVersionId: os.versionId,
    appVersionIds: [appVersion],
    connectorId: connector,
    diskSizeGb: 1,
    diskFormat: 'VMDK',
    firmware: 'UEFI',
  });
  if (created.status !== 201) throw new Error(`creating template: ${created.text}`);
  return app.api.post(`/api/templates/${created.body.id as string}/publish`, { powerPollSeconds: 1 });
}

/** vcsim's folder behind the datastore. */
const datastoreDir = () => sim.datastoreDir('LocalDS_0');

/** Files an engine or the stored image would leave: engine VM folders and `lamina/disks/`. */
const leftovers = () =>
  datastoreFiles(sim).filter((f) => f.startsWith('lamina/disks/') || f.startsWith('lamina-ce-'));

async function expectNothingLeft(): Promise<void> {
  expect(await inspector.ce.listEngines()).toEqual([]);
  // The engines' own vCenter sessions end with them, whether or not the engine logged out itself.
  expect(await guests.liveEngineSessions()).toEqual([]);
  await eventually(async () => guests.running.size === 0);
  expect(targetsShown(app)).not.toMatch(/Target \d+:/);
  expect(leftovers()).toEqual([]);
  const { rows } = await app.stack.pool.query('SELECT count(*)::int AS n FROM compositing_engines');
  expect(rows[0].n).toBe(0);
}

/** Bytes `qemu-img map` reports as data: what the image holds, as the sparse file must carry it. */
function allocatedBytes(image: string): number {
  const extents = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', image]).toString()) as {
    length: number;
    data: boolean;
  }[];
  return extents.filter((e) => e.data).reduce((sum, e) => sum + e.length, 0);
}

test('an offloaded publish writes the sparse VMDK into the datastore and makes the master image VM of it', async () => {
  const result = await completed<PublishImageResult>(app.api, await publish('Offloaded'));
  // It names the engine VM that composed it (lamina-ce-<first 8 of its id>), the one powered on.
  expect(result.compositedBy).toEqual({ engineId: expect.any(String), enginesLaunched: 1 });
  expect(guests.booted).toContain(result.compositedBy!.engineId);

  // The master image VM has what the template VM asks for: UEFI, secure boot, a vTPM.
  const { client } = await inspector.session();
  expect(await hardwareOf(client, { type: 'VirtualMachine', value: result.vm!.refs!.vm })).toMatchObject({
    firmware: 'efi',
    secureBoot: true,
    vtpm: true,
  });

  // The master image VM's disk, the copy CopyVirtualDisk made of what the engine stored.
  const location = await inspector.vms.diskLocation(result.vm!.id, 'boot');
  const onDatastore = path.join(datastoreDir(), location.replace(/^\[LocalDS_0\] /, ''));
  await qemuCompare(localImage, onDatastore);
  const descriptor = fs.readFileSync(onDatastore, 'utf8');
  expect(descriptor).toMatch(/createType="twoGbMaxExtentSparse"/);
  const extent = path.join(path.dirname(onDatastore), /SPARSE "([^"]+)"/.exec(descriptor)![1]);
  // The hash is the composed sparse file's, the bytes the engine sent.
  expect(result.sha256).toBe(sha256(extent));
  // Only allocated grains travelled: the sparse file is the image's data and its grain tables.
  const data = allocatedBytes(localImage);
  expect(fs.statSync(extent).size).toBeLessThanOrEqual(1.1 * data);
  expect(fs.statSync(extent).size).toBeLessThan(2 ** 30 / 4);
  await expectNothingLeft();
});

test('a stopped offloaded publish removes the engine VM, the target and the partial disk', async () => {
  const started = await publish('Stopped');
  // Stopped while the engine composes: its stand-in process runs lamina_ntfs.
  await eventually(
    async () => [...guests.running.values()].some((record) => coreChildrenOf(record.pid).length > 0),
    300_000,
  );
  expect(await inspector.ce.listEngines()).toHaveLength(1);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
  expect(((await finished(app.api, started)) as Task).state).toBe('cancelled');

  await expectNothingLeft();
  const { rows } = await app.stack.pool.query(`SELECT id FROM published_images WHERE name LIKE 'Stopped_%'`);
  expect(rows).toEqual([]);
});

test('an engine whose CHAP secret is wrong fails the task naming the CHAP user, and its VM is removed', async () => {
  // The guest starts with a secret that is not its task's (a broken engine template, say).
  guests.tamper = (environment) => ({ ...environment, LAMINA_CE_CHAP_SECRET: 'not-the-engines-secret' });
  const sessionsBefore = guests.sessionKeys.size;
  try {
    const task = await finished(app.api, await publish('Refused'));

    expect(task.state).toBe('failed');
    // The engine never reached its upload, so it never logged its vCenter session out: the removal of
    // the engine ends it (expectNothingLeft).
    expect(guests.sessionKeys.size).toBe(sessionsBefore + 1);
    expect(task.error).toMatch(/CHAP user '[^']+' not accepted/);
    expectWorkerFailures({ kind: 'workflow', error: /not accepted/ });
    await expectNothingLeft();
  } finally {
    guests.tamper = (environment) => environment;
  }
});

test('a connector that names no engine template VM fails the offloaded publish at once, saying so', async () => {
  const withoutEngines = await vcsimConnectorThroughApi(app.api, sim, { templateVm: TEMPLATE_VM });
  expect(
    (await app.api.patch(`/api/connectors/${withoutEngines}`, { offloadCompositing: true })).status,
  ).toBe(200);
  const task = await finished(app.api, await publish('NoEngineTemplate', withoutEngines));

  expect(task.state).toBe('failed');
  expect(task.error).toMatch(/names no Compositing Engine template VM \(ceTemplateVm\)/);
  expectWorkerFailures(
    { kind: 'activity', type: 'createCompositingEngine', error: /ceTemplateVm/ },
    { kind: 'workflow', error: /ceTemplateVm/ },
  );
  await expectNothingLeft();
});
