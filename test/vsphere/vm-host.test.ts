import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WORKFLOW_TAG } from '../../domain/vm-contract';
import { readProperties } from '../../connectors/vsphere/property-collector';
import { VimClient } from '../../connectors/vsphere/vim-client';
import {
  extraConfigOf,
  findVmByInstanceUuid,
  findVmInFolder,
  setExtraConfig,
} from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { makeTestVmdk, qemuCompare, scratchDir, vcsimConnector } from './fixtures';

/**
 * The workflows' VmHost on vSphere (connectors/vsphere/vsphere-vm-host.ts) against a real vcsim.
 *
 * What vcsim does not simulate, and the stand-in:
 * - A guest: nothing boots. The guest's scripts report (`vmtoolsd --cmd "info-set
 *   guestinfo.lamina.scripts …"` in a real guest) is written by the test through ReconfigVM, the same
 *   advanced-configuration key the host reads. vcsim answers ShutdownGuest by powering off at once.
 * - Disk contents: vcsim never reads disks; the test uploads real ones and compares the copies and the
 *   downloads with `qemu-img compare` in vcsim's datastore folder.
 * - vSphere deleting attached disks on Destroy: vcsim keeps them, so destroy() also removes the VM's
 *   disk folder, which the test checks is gone.
 */
let sim: Vcsim;
let work: string;
let source: string;
let connector: VsphereConnector;
let inspector: VimClient;

const datastoreFile = (relative: string) => path.join(sim.datastoreDir('LocalDS_0'), relative);

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  work = scratchDir('vsphere-vm-host');
  source = await makeTestVmdk(work, 3);
  connector = vcsimConnector(sim);
  inspector = await VimClient.connect({
    server: sim.url,
    username: sim.username,
    password: sim.password,
    trust: { allowUntrustedCertificate: true },
  });
});

afterAll(async () => {
  await connector?.close();
  await inspector?.close();
  await sim?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it('stores disks by name as single-extent VMDKs and knows their size', async () => {
  const host = connector.vms;
  await host.uploadDisk('boot-disk', source);
  expect(await host.hasDisk('boot-disk')).toBe(true);
  expect(await host.hasDisk('other')).toBe(false);
  expect(await host.diskVirtualSize('boot-disk')).toBe(3 * 2 ** 20);
  expect(fs.readdirSync(datastoreFile('lamina/disks')).sort()).toEqual([
    'boot-disk-flat.vmdk',
    'boot-disk.vmdk',
  ]);
  await qemuCompare(source, datastoreFile('lamina/disks/boot-disk.vmdk'));
  await host.deleteDisk('boot-disk');
  expect(await host.hasDisk('boot-disk')).toBe(false);
});

it('runs a VM through its life: create (idempotent), power, scripts report, shutdown, snapshot, export, destroy', async () => {
  const host = connector.vms;
  await host.uploadDisk('stored-boot', source);
  await host.uploadDisk('stored-package', source);
  const id = randomUUID();
  const spec = {
    id,
    name: 'lamina-packaging-Tools-1',
    cpus: 1,
    memoryMiB: 256,
    disks: [
      { name: 'boot', from: 'stored-boot' },
      { name: 'package', from: 'stored-package' },
    ],
    tags: { [WORKFLOW_TAG]: 'task-1' },
  };
  const created = await host.createVm(spec);
  expect(created).toMatchObject({ id, name: spec.name, power: 'off', tags: spec.tags, disks: spec.disks });
  expect(await host.createVm(spec)).toMatchObject({ id, name: spec.name });
  expect((await host.listVms()).map((vm) => vm.id)).toEqual([id]);

  // The VM owns copies: the stored disks can go.
  await host.deleteDisk('stored-boot');
  await host.deleteDisk('stored-package');
  await qemuCompare(source, datastoreFile(`lamina/vms/${id}/stored-package.vmdk`));
  expect(await host.diskLocation(id, 'package')).toBe(`[LocalDS_0] lamina/vms/${id}/stored-package.vmdk`);

  await host.powerOn(id);
  const running = await host.getVm(id);
  expect(running).toMatchObject({ power: 'running' });
  expect(Date.parse(running!.poweredOnAt!)).toBeGreaterThan(Date.now() - 60_000);

  const { datacenter } = await connector.session();
  const ref = (await findVmByInstanceUuid(inspector, datacenter.ref, id))!;
  await setExtraConfig(inspector, ref, {
    'guestinfo.lamina.scripts': JSON.stringify({
      ok: true,
      reportedAt: '2026-01-01T00:00:00Z',
      detail: 'done',
    }),
  });
  expect((await host.getVm(id))!.scriptsReport).toEqual({
    ok: true,
    reportedAt: '2026-01-01T00:00:00Z',
    detail: 'done',
  });

  await host.shutdown(id);
  expect((await host.getVm(id))!.power).toBe('off');
  const snapshot = await host.snapshot(id, 'Image_2026');
  expect(snapshot).toMatchObject({ name: 'Image_2026', refs: { vm: ref.value } });
  expect(await host.snapshot(id, 'Image_2026')).toEqual(snapshot);
  expect((await host.getVm(id))!.snapshots).toEqual([snapshot]);

  const exported = await host.exportDisk(id, 'package', path.join(work, 'export'));
  await qemuCompare(source, exported);
  const props = await readProperties(inspector, ref, ['config.extraConfig']);
  expect(extraConfigOf(props.get('config.extraConfig')).get(`lamina.tag.${WORKFLOW_TAG}`)).toBe('task-1');

  await host.destroy(id);
  expect(await host.getVm(id)).toBeUndefined();
  expect(fs.existsSync(datastoreFile(`lamina/vms/${id}`))).toBe(false);
  await host.destroy(id);
});

it('refuses to take over a VM of the same name that it did not create, and leaves that VM alone', async () => {
  const host = connector.vms;
  await host.uploadDisk('stored-a', source);
  const first = await host.createVm({
    id: randomUUID(),
    name: 'taken',
    cpus: 1,
    memoryMiB: 256,
    disks: [{ name: 'boot', from: 'stored-a' }],
    tags: {},
  });
  const second = randomUUID();
  await expect(host.createVm({ ...first, id: second, tags: {} })).rejects.toThrow(
    /a VM named 'taken' already exists in folder 'F0' and is not VM/,
  );
  await host.destroy(second);
  expect(await host.getVm(first.id)).toMatchObject({ name: 'taken' });
  await host.destroy(first.id);
  await host.deleteDisk('stored-a');
});

it("names a foreign VM's disks boot, disk2, … and downloads them (the gold VM of an OS import)", async () => {
  const host = connector.vms;
  await connector.uploadDisk(source, 'gold/gold.vmdk');
  await connector.createVm({ name: 'gold', disks: ['gold/gold.vmdk'], cpus: 1, memoryMiB: 256 });
  const session = await connector.session();
  const gold = (await findVmInFolder(session.client, session.folder.ref, 'gold'))!;
  const goldId = (await readProperties(inspector, gold, ['config.instanceUuid'])).get(
    'config.instanceUuid',
  )!.text;
  expect(await host.diskLocation(goldId, 'boot')).toBe('[LocalDS_0] gold/gold.vmdk');
  await expect(host.diskLocation(goldId, 'disk2')).rejects.toThrow(/has no disk 'disk2' \(it has: boot\)/);
  await qemuCompare(source, await host.exportDisk(goldId, 'boot', path.join(work, 'gold')));
  // Not Lamina's: not listed for the power watcher.
  expect((await host.listVms()).map((vm) => vm.name)).not.toContain('gold');
  await connector.destroyVm('gold');
});

/**
 * The power watcher (worker/power-watcher.ts) signals "powered off" for a VM that is off with a power-on
 * time it has not signalled yet. A power-on held in flight by vcsim (as a slow vCenter would) must not
 * show such a state before the VM ran: it once did, when the time was written before the power-on, and a
 * packaging task finalized its package disk while the admin had not installed anything yet.
 */
it('never shows a VM off with a new power-on time while it is being powered on', async () => {
  const slow = await startVcsim({
    inventory: { folder: 1 },
    extraArgs: ['-method-delay', 'PowerOnVM_Task:1500'],
  });
  const lamina = vcsimConnector(slow);
  const host = lamina.vms;
  const watcher = vcsimConnector(slow);
  try {
    await host.uploadDisk('stored', source);
    const id = randomUUID();
    await host.createVm({
      id,
      name: 'lamina-power-watch',
      cpus: 1,
      memoryMiB: 256,
      disks: [{ name: 'boot', from: 'stored' }],
      tags: { [WORKFLOW_TAG]: 'task-1' },
    });
    // What the watcher would signal during each power-on: off states with a time other than the one
    // the VM had when it was off before the call (which the watcher saw already).
    const signalledDuring = async (powerOn: () => Promise<void>) => {
      const before = (await watcher.vms.getVm(id))!.poweredOnAt;
      const seen = new Set<string>();
      let done = false;
      const on = powerOn().finally(() => (done = true));
      while (!done) {
        for (const vm of await watcher.vms.listVms()) {
          if (vm.power === 'off' && vm.poweredOnAt && vm.poweredOnAt !== before) seen.add(vm.poweredOnAt);
        }
      }
      await on;
      return [...seen];
    };
    expect(await signalledDuring(() => host.powerOn(id))).toEqual([]);
    const first = (await host.getVm(id))!;
    expect(first).toMatchObject({ power: 'running', poweredOnAt: expect.any(String) });

    await host.shutdown(id);
    expect(await signalledDuring(() => host.powerOn(id))).toEqual([]);
    const second = (await host.getVm(id))!;
    expect(second.power).toBe('running');
    expect(Date.parse(second.poweredOnAt!)).toBeGreaterThan(Date.parse(first.poweredOnAt!));
    await host.destroy(id);
  } finally {
    await watcher.close();
    await lamina.close();
    await slow.stop();
  }
}, 60_000);
