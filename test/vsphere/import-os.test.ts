import path from 'node:path';
import { readProperties } from '../../connectors/vsphere/property-collector';
import { findVmInFolder } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { expectWorkerFailures } from '../harness';
import type { LayerVersionResult } from '../../workflows/layer-versions';
import {
  catFromImage,
  completed,
  createLayer,
  filesUnder,
  goldImage,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { datastoreFiles, qemuCompare, vcsimConnector, vcsimConnectorThroughApi } from './fixtures';

/**
 * importOsLayer from a gold VM's disk on a vSphere datastore: vcsim as a real process, the real
 * workflow through the API on the harness's Temporal and Postgres.
 *
 * What vcsim does not simulate, and the stand-in: a gold VM built by installing Windows. The test
 * uploads a synthetic Windows gold image as the VM's VMDK (checked on vcsim's datastore folder with
 * `qemu-img compare`) and attaches it to a VM in the folder; the import downloads that disk by the
 * VM's instance UUID, the id the admin picks it by.
 */
let app: Appliance;
let sim: Vcsim;
let connectorId: string;
let admin: VsphereConnector;
let gold: string;
let goldVmId: string;

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance();
  connectorId = await vcsimConnectorThroughApi(app.api, sim);
  admin = vcsimConnector(sim);
  gold = await goldImage();
  await admin.uploadDisk(gold, 'Win11-gold/Win11-gold.vmdk', { extentBytes: 2 ** 30 });
  await admin.createVm({ name: 'Win11-gold', disks: ['Win11-gold/Win11-gold.vmdk'] });
  const session = await admin.session();
  const vm = (await findVmInFolder(session.client, session.folder.ref, 'Win11-gold'))!;
  goldVmId = (await readProperties(session.client, vm, ['config.instanceUuid'])).get(
    'config.instanceUuid',
  )!.text;
}, 180_000);

afterAll(async () => {
  await admin?.close();
  await app?.stop();
  await sim?.stop();
});

it('imports the OS layer from the gold VM, leaving the VM and its disk as they were', async () => {
  const disk = path.join(sim.datastoreDir('LocalDS_0'), 'Win11-gold/Win11-gold.vmdk');
  await qemuCompare(gold, disk);
  const filesBefore = datastoreFiles(sim);
  const layerId = await createLayer(app.api, 'os', 'Windows 11');
  const started = await app.api.post(`/api/layers/${layerId}/versions/import`, {
    version: '1',
    source: { connectorId, vmId: goldVmId },
  });
  const result = await completed<LayerVersionResult>(app.api, started);
  const { rows } = await app.stack.pool.query('SELECT state FROM layer_versions WHERE id = $1', [
    result.versionId,
  ]);
  expect(rows).toEqual([{ state: 'Deployable' }]);
  expect(await catFromImage(result.diskPath, '\\Windows\\System32\\notepad.exe')).toMatch(
    /^MZ synthetic notepad/,
  );
  expect(await catFromImage(result.diskPath, '\\Program Files\\Common Files\\shared.txt')).toMatch(
    /^shared component v1/,
  );

  // The download is a transfer: it heartbeats, so a dead worker is noticed within 10 s, and no fixed
  // bound ends a big disk's download (it had 15 minutes before).
  const history = await app.stack.client.workflow.getHandle(started.body.id).fetchHistory();
  const download = history.events?.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'exportVmDisk',
  )?.activityTaskScheduledEventAttributes;
  expect({
    heartbeat: Number(download?.heartbeatTimeout?.seconds),
    startToClose: Number(download?.startToCloseTimeout?.seconds),
  }).toEqual({ heartbeat: 10, startToClose: 12 * 3600 });

  // The download went to the task's scratch folder, removed at the end; the gold VM is untouched.
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
  expect(datastoreFiles(sim)).toEqual(filesBefore);
  await qemuCompare(gold, disk);
  expect(await admin.vms.getVm(goldVmId)).toMatchObject({ name: 'Win11-gold', power: 'off' });
}, 300_000);

it('names the VM and disk it cannot find', async () => {
  const layerId = await createLayer(app.api, 'os', 'Windows 10');
  const started = await app.api.post(`/api/layers/${layerId}/versions/import`, {
    version: '1',
    source: { connectorId, vmId: goldVmId, disk: 'disk2' },
  });
  await expect(completed(app.api, started)).rejects.toThrow(
    /VM 'Win11-gold' has no disk 'disk2' \(it has: boot\)/,
  );
  expectWorkerFailures(
    { type: 'exportVmDisk', error: /has no disk 'disk2'/ },
    { kind: 'workflow', error: /has no disk 'disk2'/ },
  );
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
}, 300_000);
