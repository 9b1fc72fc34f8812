import fs from 'node:fs';
import path from 'node:path';
import { listObjects, readProperties } from '../../connectors/vsphere/property-collector';
import { VimClient } from '../../connectors/vsphere/vim-client';
import { waitForTask } from '../../connectors/vsphere/tasks';
import { moRefOf, type MoRef } from '../../connectors/vsphere/vim-fault';
import { detachDisks, diskPaths } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { makeTestVmdk, qemuCompare, scratchDir, vcsimConnector } from './fixtures';

/**
 * The VM operations the workflows call (packaging machine, MCS master image), against a real vcsim.
 *
 * What vcsim does not simulate, and the stand-in:
 * - A guest OS: nothing boots and no layer script runs. vcsim answers ShutdownGuest by powering off at
 *   once, as a guest with VMware Tools would after its scripts; "the admin shuts the packaging VM down"
 *   is a second session calling ShutdownGuest while the connector waits for power-off.
 * - A guest without VMware Tools, which refuses a guest shutdown: a suspended VM, which vcsim refuses
 *   ShutdownGuest for. (A guest that accepts the request but never shuts down is not simulated; the
 *   grace-period timer around it is the same waitForPowerOff proven below.)
 * - Disk contents: vcsim never reads the attached VMDK. The test attaches disks it uploaded, so
 *   exportDisk returns real bytes that qemu-img compares with the source.
 * - vSphere deleting attached disks on Destroy: vcsim leaves disks outside the VM folder alone, so the
 *   keepDisks path is proven by checking that the disks are detached (and their files kept) first.
 */
let sim: Vcsim;
let work: string;
let source: string;
let connector: VsphereConnector;
let inspector: VimClient;

async function vmRef(name: string): Promise<MoRef | undefined> {
  const vms = await listObjects(inspector, 'VirtualMachine', ['name']);
  return vms.find((v) => v.props.get('name')?.text === name)?.ref;
}

function datastoreFile(relative: string): string {
  return path.join(sim.datastoreDir('LocalDS_0'), relative);
}

beforeAll(async () => {
  sim = await startVcsim({ inventory: { folder: 1 } });
  work = scratchDir('vsphere-vms');
  source = await makeTestVmdk(work, 3);
  connector = vcsimConnector(sim, { templateVm: 'DC0_C0_RP0_VM0' });
  inspector = await VimClient.connect({
    server: sim.url,
    username: sim.username,
    password: sim.password,
    trust: { allowUntrustedCertificate: true },
  });
  await connector.uploadDisk(source, 'lamina/boot.vmdk', { extentBytes: 1024 * 1024 });
  await connector.uploadDisk(source, 'lamina/package.vmdk');
});

afterAll(async () => {
  await connector?.close();
  await inspector?.close();
  await sim?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('creates a VM with the template hardware, the given disks and network, and finds it again on retry', async () => {
  const request = {
    name: 'lamina-packaging-1',
    disks: ['lamina/boot.vmdk', '[LocalDS_0] lamina/package.vmdk'],
    memoryMiB: 2048,
    firmware: 'efi' as const,
  };
  const first = await connector.createVm(request);
  expect(first.created).toBe(true);
  const again = await connector.createVm(request);
  expect(again).toEqual({ vm: first.vm, created: false });

  const props = await readProperties(inspector, first.vm, [
    'config.hardware.numCPU',
    'config.hardware.memoryMB',
    'config.firmware',
    'config.hardware.device',
    'parent',
  ]);
  const template = await readProperties(inspector, (await vmRef('DC0_C0_RP0_VM0'))!, [
    'config.hardware.numCPU',
  ]);
  expect(props.get('config.hardware.numCPU')?.text).toBe(template.get('config.hardware.numCPU')?.text);
  expect(props.get('config.hardware.memoryMB')?.text).toBe('2048');
  expect(props.get('config.firmware')?.text).toBe('efi');
  const devices = props.get('config.hardware.device')!.children;
  expect(devices.map((d) => d.type)).toEqual(
    expect.arrayContaining(['ParaVirtualSCSIController', 'VirtualE1000']),
  );
  const nic = devices.find((d) => d.type === 'VirtualE1000')!;
  expect(nic.at('backing', 'deviceName')?.text).toBe('VM Network');
  expect(await diskPaths(inspector, first.vm)).toEqual([
    '[LocalDS_0] lamina/boot.vmdk',
    '[LocalDS_0] lamina/package.vmdk',
  ]);
  const folder = await readProperties(inspector, { type: 'Folder', value: props.get('parent')!.text }, [
    'name',
  ]);
  expect(folder.get('name')?.text).toBe('F0');
});

test('names with XML special characters survive the round trip', async () => {
  const name = `R&D <packaging> "1" 'a'`;
  const { vm } = await connector.createVm({ name, disks: ['lamina/package.vmdk'] });
  expect(await vmRef(name)).toEqual(vm);
  expect(await connector.powerState(name)).toBe('poweredOff');
  await connector.destroyVm(name, { keepDisks: true });
  expect(await vmRef(name)).toBeUndefined();
});

test("names with '/', '\\' or '%' are refused: vCenter would store them escaped and a retry not find them", async () => {
  for (const name of ['Win 10/Office', 'x64\\build', '100%']) {
    await expect(connector.createVm({ name, disks: ['lamina/package.vmdk'] })).rejects.toThrow(
      `VM name '${name}' contains '/', '\\' or '%', which vCenter escapes; choose another`,
    );
  }
});

test('a missing disk fails createVm with the disk named', async () => {
  await expect(connector.createVm({ name: 'no-disk', disks: ['lamina/missing.vmdk'] })).rejects.toThrow(
    'disk [LocalDS_0] lamina/missing.vmdk does not exist',
  );
  expect(await vmRef('no-disk')).toBeUndefined();
});

test('power on, snapshot and guest shutdown are idempotent', async () => {
  const vm = 'lamina-packaging-1';
  await connector.powerOn(vm);
  await connector.powerOn(vm);
  expect(await connector.powerState(vm)).toBe('poweredOn');

  const snapshot = await connector.createSnapshot(vm, 'lamina-master');
  expect(snapshot.type).toBe('VirtualMachineSnapshot');
  expect(await connector.createSnapshot(vm, 'lamina-master')).toEqual(snapshot);

  expect(await connector.waitForPowerOff(vm, { pollMs: 50, timeoutMs: 300 })).toBe(false);
  expect(await connector.shutdown(vm, { graceMs: 5_000, pollMs: 50 })).toBe('guest');
  expect(await connector.powerState(vm)).toBe('poweredOff');
  expect(await connector.shutdown(vm)).toBe('alreadyOff');
});

test('a guest that refuses to shut down is powered off', async () => {
  // Stand-in for a guest without VMware Tools: vcsim refuses ShutdownGuest for a suspended VM.
  const vm = 'lamina-packaging-1';
  await connector.powerOn(vm);
  const response = await inspector.invoke('SuspendVM_Task', (await vmRef(vm))!);
  await waitForTask(inspector, moRefOf(response.child('returnval')!), 'suspend');
  expect(await connector.powerState(vm)).toBe('suspended');
  expect(await connector.shutdown(vm, { graceMs: 5_000 })).toBe('forced');
  expect(await connector.powerState(vm)).toBe('poweredOff');
});

test('waitForPowerOff returns when someone else shuts the VM down', async () => {
  const vm = 'lamina-packaging-1';
  await connector.powerOn(vm);
  const states: string[] = [];
  const waiting = connector.waitForPowerOff(vm, { pollMs: 50, onPoll: (s) => states.push(s) });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await inspector.invoke('ShutdownGuest', (await vmRef(vm))!); // the admin, done installing
  await expect(waiting).resolves.toBe(true);
  expect(states[0]).toBe('poweredOn');
  expect(states.at(-1)).toBe('poweredOff');
});

test('exportDisk downloads the VM disk with its extents, byte for byte', async () => {
  const local = path.join(work, 'export', 'boot.vmdk');
  const exported = await connector.exportDisk('lamina-packaging-1', local);
  expect(exported.files.map((f) => path.basename(f))).toEqual([
    'boot.vmdk',
    'boot-flat.vmdk',
    'boot-f002.vmdk',
    'boot-f003.vmdk',
  ]);
  await qemuCompare(source, local);
  await expect(connector.exportDisk('lamina-packaging-1', local, { diskIndex: 2 })).rejects.toThrow(
    "VM 'lamina-packaging-1' has 2 disk(s); no disk 2",
  );
});

test('detaching disks keeps their files; destroyVm with keepDisks removes the VM only', async () => {
  const { vm } = await connector.createVm({ name: 'lamina-detach', disks: ['lamina/package.vmdk'] });
  await detachDisks(inspector, vm);
  expect(await diskPaths(inspector, vm)).toEqual([]);
  expect(fs.existsSync(datastoreFile('lamina/package-flat.vmdk'))).toBe(true);

  await connector.powerOn('lamina-packaging-1');
  await connector.destroyVm('lamina-packaging-1', { keepDisks: true });
  expect(await vmRef('lamina-packaging-1')).toBeUndefined();
  await qemuCompare(source, datastoreFile('lamina/boot.vmdk'));
  await connector.destroyVm('lamina-packaging-1'); // already gone: nothing to do
  await expect(connector.powerState('lamina-packaging-1')).rejects.toThrow(
    "VM 'lamina-packaging-1' not found in folder 'F0' of DC0",
  );
});
