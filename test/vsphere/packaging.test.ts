import fs from 'node:fs';
import path from 'node:path';
import { installIntoBootDisk } from '../../compositor/boot-disk-install';
import { findVmByInstanceUuid, powerOff } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { run } from '../../lib/processes';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import type { PackagingAction, PackagingResult } from '../../workflows/create-layer-version';
import { expectWorkerFailures, testDir } from '../harness';
import {
  catFromImage,
  completed,
  createLayer,
  eventually,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  regText,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { datastoreFiles, qemuCompare, vcsimConnector, vcsimConnectorThroughApi } from './fixtures';

/**
 * createLayerVersion with the packaging machine on vSphere: vcsim as a real process, the real workflow
 * through the API on the harness's Temporal and Postgres.
 *
 * What vcsim does not simulate, and the stand-in:
 * - A guest: the packaging machine never boots, so nobody installs anything inside it. The test plays
 *   the admin as `lamina vm install` does on the local connector: it writes the application onto C:
 *   and into the SOFTWARE hive of the VM's boot disk in vcsim's datastore folder (through a VHDX copy,
 *   since the installer stand-in rewrites whole disks, then back into the `-flat.vmdk` in place), then
 *   powers the VM off through vim25. The task downloads that disk and captures the difference from
 *   the composed boot disk it started from.
 * - Child disks: the VM gets a server-side copy of the stored boot disk (CopyVirtualDisk), not a
 *   linked clone.
 * - The shutdown itself: the admin's guest shutdown is a PowerOffVM_Task; the task notices it through
 *   the power watcher (listVms every second) with the workflow's poll as the fallback.
 */
let app: Appliance;
let sim: Vcsim;
let connectorId: string;
let inspector: VsphereConnector;
let os: { layerId: string; versionId: string };

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance();
  os = await importedOs(app.api, await goldImage());
  connectorId = await vcsimConnectorThroughApi(app.api, sim);
  inspector = vcsimConnector(sim);
}, 180_000);

afterAll(async () => {
  await inspector?.close();
  await app?.stop();
  await sim?.stop();
});

const datastoreFile = (datastorePath: string) =>
  path.join(sim.datastoreDir('LocalDS_0'), datastorePath.replace(/^\[LocalDS_0\] /, ''));

const cachedDisks = async () =>
  (await app.stack.pool.query('SELECT disk_path FROM packaging_cache_entries')).rows.map(
    (r) => r.disk_path as string,
  );

async function startPackaging(name: string) {
  const layerId = await createLayer(app.api, 'app', name, os.layerId);
  const started = await app.api.post(`/api/layers/${layerId}/versions/package`, {
    version: '1',
    connectorId,
    bootDiskGb: 1,
    cpus: 1,
    memoryMiB: 512,
    // The power watcher's signal ends the wait; the poll notices a VM that is gone.
    powerPollSeconds: 2,
  });
  expect(started.status).toBe(202);
  const action = await eventually(async () => {
    const versions = (await app.api.get(`/api/layers/${layerId}/versions`)).body.items;
    return versions[0]?.state === 'ActionRequired' ? (versions[0].action as PackagingAction) : undefined;
  }, 120_000);
  return { layerId, started, action };
}

/** What an installer inside the packaging machine does to its boot disk (C: and HKLM). */
async function adminInstalls(vmId: string, files: Record<string, string>, reg: Record<string, string>) {
  const flat = datastoreFile(await inspector.vms.diskLocation(vmId, 'boot')).replace(/\.vmdk$/, '-flat.vmdk');
  const dir = testDir('admin');
  const installer = path.join(dir, 'installer');
  for (const [windowsPath, content] of Object.entries(files)) {
    const file = path.join(installer, ...windowsPath.split('\\'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  const regFile = path.join(dir, 'app.reg');
  fs.writeFileSync(regFile, regText(reg));
  const copy = path.join(dir, 'boot.vhdx');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', flat, copy]);
  await installIntoBootDisk(copy, { from: installer, reg: regFile });
  // Back into the VM's disk file in place, as the guest's writes would land.
  await run('qemu-img', ['convert', '-n', '-O', 'raw', copy, flat]);
}

async function adminPowersOff(vmId: string) {
  const { client, datacenter } = await inspector.session();
  await powerOff(client, (await findVmByInstanceUuid(client, datacenter.ref, vmId))!);
}

it('creates the packaging VM in the folder on its own copy of the boot disk, waits for its power-off, captures the layer and cleans up', async () => {
  const { layerId, started, action } = await startPackaging('Notepad++');
  const vm = await inspector.vms.getVm(action.vm.id);
  expect(vm).toMatchObject({
    name: action.vm.name,
    power: 'running',
    cpus: 1,
    memoryMiB: 512,
    disks: [{ name: 'boot', from: expect.stringMatching(/^packaging-cache-/) }],
  });
  // The VM's own copy, beside the cached boot disk; no package disk.
  const [cached] = await cachedDisks();
  expect(datastoreFiles(sim).filter((f) => f.startsWith('lamina/'))).toEqual(
    [
      `lamina/disks/${cached}-flat.vmdk`,
      `lamina/disks/${cached}.vmdk`,
      `lamina/vms/${action.vm.id}/${cached}-flat.vmdk`,
      `lamina/vms/${action.vm.id}/${cached}.vmdk`,
    ].sort(),
  );

  // Bytes: the VM's boot disk is the composed (cached) one, which the task keeps in its scratch folder
  // as the capture's base.
  const inDatastore = (relative: string) => path.join(sim.datastoreDir('LocalDS_0'), relative);
  await qemuCompare(
    inDatastore(`lamina/disks/${cached}.vmdk`),
    inDatastore(`lamina/vms/${action.vm.id}/${cached}.vmdk`),
  );
  await qemuCompare(
    path.join(app.config.scratchDir, action.vm.id, 'boot.vhdx'),
    inDatastore(`lamina/vms/${action.vm.id}/${cached}.vmdk`),
  );

  await adminInstalls(
    action.vm.id,
    { 'Program Files\\Notepad++\\notepad++.exe': 'MZ editor' },
    { 'Notepad++': 'Version=8.6' },
  );
  await adminPowersOff(action.vm.id);

  const result = await completed<PackagingResult>(app.api, started);
  expect(result.cacheHit).toBe(false);
  expect(result.elasticFit?.verdict).toBe('fit');
  expect(await catFromImage(result.diskPath, '\\Program Files\\Notepad++\\notepad++.exe')).toBe('MZ editor');
  expect(await catFromImage(result.diskPath, '\\.lamina\\registry.reg')).toMatch(/"Version"="8\.6"/);
  const { rows } = await app.stack.pool.query('SELECT state FROM layer_versions WHERE layer_id = $1', [
    layerId,
  ]);
  expect(rows).toEqual([{ state: 'Deployable' }]);

  // The VM and its disks are gone; the composed boot disk stays on the datastore, cached.
  expect(await inspector.vms.getVm(action.vm.id)).toBeUndefined();
  expect(datastoreFiles(sim).filter((f) => f.startsWith('lamina/'))).toEqual([
    `lamina/disks/${cached}-flat.vmdk`,
    `lamina/disks/${cached}.vmdk`,
  ]);
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
}, 300_000);

it('stopped while the machine waits for the admin (cache hit): nothing is left but the cache', async () => {
  const before = datastoreFiles(sim);
  const { layerId, started, action } = await startPackaging('Abandoned');
  expect(await inspector.vms.getVm(action.vm.id)).toMatchObject({ power: 'running' });
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
  expect((await finished(app.api, started)).state).toBe('cancelled');

  expect(await inspector.vms.getVm(action.vm.id)).toBeUndefined();
  expect(await inspector.vms.listVms()).toEqual([]);
  expect(datastoreFiles(sim)).toEqual(before);
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
  const { rows } = await app.stack.pool.query('SELECT id FROM layer_versions WHERE layer_id = $1', [layerId]);
  expect(rows).toEqual([]);
  const counters = await app.stack.pool.query(
    'SELECT cache_hits::int AS hits, cache_lookups::int AS lookups FROM connectors WHERE id = $1',
    [connectorId],
  );
  expect(counters.rows).toEqual([{ hits: 1, lookups: 2 }]);
}, 300_000);

/**
 * vcsim restarted while the packaging machine waits: the task fails with a clear error naming the VM,
 * and compensates. It does not resume because vcsim keeps no inventory across a restart, so the VM is
 * gone; a restarted vCenter keeps its VMs, and the same wait goes on (the next activity logs in again,
 * the power watcher retries on its next look).
 */
it('vcsim restarted while the machine waits: the task fails naming the vanished VM, and leaves no record', async () => {
  const { layerId, started, action } = await startPackaging('Restarted');
  await sim.kill();
  sim = await startVcsim({ inventory: { folder: 1 }, port: sim.port });
  const task = await finished(app.api, started);
  expect(task.state).toBe('failed');
  expect(task.error).toBe(
    `VM ${action.vm.id} no longer exists on the connector; it was removed outside Lamina`,
  );
  expectWorkerFailures(
    { type: 'vmStatus', error: /no longer exists on the connector/ },
    { kind: 'workflow', error: /no longer exists on the connector/ },
  );
  const { rows } = await app.stack.pool.query('SELECT id FROM layer_versions WHERE layer_id = $1', [layerId]);
  expect(rows).toEqual([]);
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
}, 300_000);
