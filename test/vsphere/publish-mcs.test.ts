import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { compose } from '../../compositor/compose';
import type { VmRecord } from '../../connectors/vm-host';
import { findVmByInstanceUuid, hardwareOf, setExtraConfig } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import type { PublishImageResult } from '../../workflows/publish-image';
import {
  builtLayer,
  catFromImage,
  completed,
  eventually,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { testDir } from '../harness';
import {
  CuttingProxy,
  datastoreFiles,
  qemuCompare,
  vcsimConnector,
  vcsimConnectorThroughApi,
} from './fixtures';

/**
 * publishImage as an MCS master image on vSphere: vcsim as a real process, the real workflows through
 * the API on the harness's Temporal and Postgres, the connector's password sealed in Postgres.
 *
 * What vcsim does not simulate, and the stand-in:
 * - A guest: the master image never boots, so no layer script runs and nothing reports. The test plays
 *   the guest agent: it writes the report into `guestinfo.lamina.scripts` (what `vmtoolsd --cmd
 *   "info-set guestinfo.lamina.scripts …"` does in a real guest) through ReconfigVM.
 * - A guest shutdown that takes time: vcsim powers off at once on ShutdownGuest, so the grace period
 *   before a forced power-off never runs out here (virtual-machines.test.ts covers the forced path).
 * - Disk contents: vcsim never reads the disk; the bytes on its datastore folder are compared with
 *   `qemu-img compare` to the same image composed again locally (the guest-visible bytes are
 *   deterministic; the VMDK file itself is not, its descriptor CID is random).
 */
let app: Appliance;
let sim: Vcsim;
let connectorId: string;
let inspector: VsphereConnector;
let os: { layerId: string; versionId: string };
let toolsVersion: string;

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance();
  os = await importedOs(app.api, await goldImage());
  // With a first-start script, so the master image runs the runner and waits for its report.
  toolsVersion = (
    await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'tool' }, undefined, {
      'setup.cmd': '@exit 0',
    })
  ).versionId;
  connectorId = await vcsimConnectorThroughApi(app.api, sim, { templateVm: 'DC0_C0_RP0_VM0' });
  inspector = vcsimConnector(sim, { templateVm: 'DC0_C0_RP0_VM0' });
}, 180_000);

afterAll(async () => {
  await inspector?.close();
  await app?.stop();
  await sim?.stop();
});

/** A template publishing a small UEFI VMDK to the vcsim connector. */
async function vmTemplate(
  name: string,
  appVersionIds: string[] = [],
  connector = connectorId,
): Promise<string> {
  const created = await app.api.post('/api/templates', {
    name,
    osVersionId: os.versionId,
    appVersionIds,
    connectorId: connector,
    diskSizeGb: 1,
    diskFormat: 'VMDK',
    firmware: 'UEFI',
  });
  if (created.status !== 201) throw new Error(`creating template: ${created.text}`);
  return created.body.id as string;
}

/** The master image VM once the task has started it. */
const runningVm = () =>
  eventually(async () => (await inspector.vms.listVms()).find((vm) => vm.power === 'running'), 120_000);

/** What the guest agent does when the layers' first-start scripts are done. */
async function guestReports(vm: VmRecord): Promise<void> {
  const session = await inspector.session();
  const ref = await findVmByInstanceUuid(session.client, session.datacenter.ref, vm.id);
  await setExtraConfig(session.client, ref!, {
    'guestinfo.lamina.scripts': JSON.stringify({
      ok: true,
      reportedAt: new Date().toISOString(),
      detail: 'layer scripts completed',
    }),
  });
}

/** `[LocalDS_0] a/b.vmdk` → the file in vcsim's folder behind the datastore. */
const datastorePathToFile = (location: string) =>
  path.join(sim.datastoreDir('LocalDS_0'), location.replace(/^\[LocalDS_0\] /, ''));

async function layerDisk(versionId: string): Promise<string> {
  const { rows } = await app.stack.pool.query('SELECT disk_path FROM layer_versions WHERE id = $1', [
    versionId,
  ]);
  return rows[0].disk_path as string;
}

it('uploads the composed VMDK, creates the VM with the template hardware, waits for the scripts, shuts down, snapshots, records the morefs', async () => {
  const templateId = await vmTemplate('MCS', [toolsVersion]);
  const started = await app.api.post(`/api/templates/${templateId}/publish`, {
    scriptsTimeoutSeconds: 600,
    powerPollSeconds: 1,
  });
  const vm = await runningVm();
  expect(vm.name).toMatch(/^MCS_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/);
  await guestReports(vm);

  const result = await completed<PublishImageResult>(app.api, started);
  expect(result.location).toBe(`vm:${result.name}`);
  expect(result.vm).toMatchObject({
    id: vm.id,
    name: result.name,
    snapshot: result.name,
    refs: { vm: expect.stringMatching(/^vm-\d+$/), snapshot: expect.stringMatching(/^snapshot-\d+$/) },
    scripts: { ok: true },
  });
  const published = await inspector.vms.getVm(vm.id);
  expect(published).toMatchObject({
    power: 'off',
    snapshots: [{ name: result.name, refs: result.vm!.refs }],
  });
  const { rows } = await app.stack.pool.query('SELECT vm FROM published_images');
  expect(rows).toEqual([
    { vm: { id: vm.id, name: result.name, snapshot: result.name, refs: result.vm!.refs } },
  ]);

  // The template VM gave the hardware (CPUs, memory, devices); the firmware is the image's.
  const { client, templateHardware } = await inspector.session();
  expect(templateHardware).toMatchObject({ firmware: 'bios' });
  expect(await hardwareOf(client, { type: 'VirtualMachine', value: result.vm!.refs!.vm })).toEqual({
    ...templateHardware,
    firmware: 'efi',
  });

  // The disk on the datastore holds exactly the image: compose the same inputs again and compare.
  const onDatastore = datastorePathToFile(await inspector.vms.diskLocation(vm.id, 'boot'));
  const again = path.join(testDir('again'), 'image.vmdk');
  await compose({
    os: await layerDisk(os.versionId),
    apps: [await layerDisk(toolsVersion)],
    size: 2 ** 30,
    firmware: 'uefi',
    format: 'vmdk',
    out: again,
  });
  await qemuCompare(again, onDatastore);
  expect(await catFromImage(onDatastore.replace(/\.vmdk$/, '-flat.vmdk'), '\\Tools\\tool.txt')).toBe('tool');

  // The uploaded image was only the way in; the scratch folder is gone.
  expect(datastoreFiles(sim).filter((f) => f.startsWith('lamina/disks/'))).toEqual([]);
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
}, 300_000);

it('shuts the master image down anyway when the scripts do not report in time', async () => {
  const templateId = await vmTemplate('Quiet', [toolsVersion]);
  const result = await completed<PublishImageResult>(
    app.api,
    await app.api.post(`/api/templates/${templateId}/publish`, {
      scriptsTimeoutSeconds: 2,
      powerPollSeconds: 1,
    }),
  );
  expect(result.vm).toMatchObject({ snapshot: result.name });
  expect(result.vm!.scripts).toBeUndefined();
  expect(await inspector.vms.getVm(result.vm!.id)).toMatchObject({ power: 'off' });
}, 300_000);

it('stopped while the master image waits for its scripts: no VM, disk or scratch file is left', async () => {
  const vmsBefore = await inspector.vms.listVms();
  const filesBefore = datastoreFiles(sim);
  const templateId = await vmTemplate('Stopped', [toolsVersion]);
  const started = await app.api.post(`/api/templates/${templateId}/publish`, {
    scriptsTimeoutSeconds: 600,
    powerPollSeconds: 1,
  });
  const vm = await runningVm();
  expect(datastoreFiles(sim).length).toBeGreaterThan(filesBefore.length);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
  expect(((await finished(app.api, started)) as Task).state).toBe('cancelled');

  expect(await inspector.vms.getVm(vm.id)).toBeUndefined();
  expect(await inspector.vms.listVms()).toEqual(vmsBefore);
  expect(datastoreFiles(sim)).toEqual(filesBefore);
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
}, 300_000);

it('stopped during the upload of the composed disk: the upload stops and removes what it sent', async () => {
  // A slow link to vCenter, so the stop lands mid-upload.
  const proxy = await CuttingProxy.start(sim.port);
  proxy.limitUpstream(16 * 2 ** 20);
  try {
    const slowConnector = await vcsimConnectorThroughApi(app.api, sim, {
      vcenter: `127.0.0.1:${proxy.port}`,
    });
    const filesBefore = datastoreFiles(sim);
    const templateId = await vmTemplate('Uploading', [], slowConnector);
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    await eventually(async () => {
      const task = (await app.api.get(`/api/tasks/${started.body.id}`)).body as Task;
      return task.progress.some((p) => p.step === 'uploadDisk' && (p.done ?? 0) > 0);
    }, 120_000);
    expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
    expect(((await finished(app.api, started)) as Task).state).toBe('cancelled');
    // Stopped mid-way: far less than the 1 GiB disk went through.
    expect(proxy.upstreamBytes).toBeLessThan(2 ** 30);

    expect(datastoreFiles(sim)).toEqual(filesBefore);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    const { rows } = await app.stack.pool.query(
      `SELECT id FROM published_images WHERE name LIKE 'Uploading_%'`,
    );
    expect(rows).toEqual([]);
  } finally {
    await proxy.stop();
  }
}, 300_000);

/**
 * vcsim restarted (killed) during the upload: the task resumes and completes. The broken upload fails
 * its activity attempt, the retry logs in again and uploads once more: the restarted vcsim starts
 * empty, so nothing of the first attempt is there to skip (against a vCenter that keeps its files, the
 * retry would keep the extents already complete).
 */
it('vcsim restarted during the upload: the retried upload completes and so does the task', async () => {
  const proxy = await CuttingProxy.start(sim.port);
  proxy.limitUpstream(16 * 2 ** 20);
  try {
    const slowConnector = await vcsimConnectorThroughApi(app.api, sim, {
      vcenter: `127.0.0.1:${proxy.port}`,
    });
    const templateId = await vmTemplate('Restarted', [], slowConnector);
    const started = await app.api.post(`/api/templates/${templateId}/publish`, {
      scriptsTimeoutSeconds: 2,
      powerPollSeconds: 1,
    });
    await eventually(async () => {
      const task = (await app.api.get(`/api/tasks/${started.body.id}`)).body as Task;
      return task.progress.some((p) => p.step === 'uploadDisk' && (p.done ?? 0) > 0);
    }, 120_000);
    await sim.kill();
    sim = await startVcsim({ inventory: { folder: 1 }, port: sim.port });
    proxy.limitUpstream(Infinity);

    const result = await completed<PublishImageResult>(app.api, started);
    expect(await inspector.vms.getVm(result.vm!.id)).toMatchObject({
      name: result.name,
      power: 'off',
      snapshots: [{ name: result.name }],
    });
    const location = await inspector.vms.diskLocation(result.vm!.id, 'boot');
    expect(
      await catFromImage(
        datastorePathToFile(location).replace(/\.vmdk$/, '-flat.vmdk'),
        '\\Windows\\win.ini',
      ),
    ).toMatch(/\[fonts\]/);
  } finally {
    await proxy.stop();
  }
}, 300_000);
