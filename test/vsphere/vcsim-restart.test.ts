import fs from 'node:fs';
import path from 'node:path';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { freePort } from '../../lib/processes';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import { makeTestVmdk, qemuCompare, scratchDir, vcsimConnector } from './fixtures';

/**
 * vCenter going down and coming back mid-operation, played by killing vcsim (SIGKILL) and starting a
 * new one on the same port.
 *
 * Which outcome, and why:
 * - A disk upload RESUMES. Its steps are idempotent (whole-file PUTs checked by size), broken
 *   connections are retried with back-off, and before the descriptor is written every extent is checked
 *   again, so the upload ends with a complete disk on the server that is up at the end.
 * - A vim25 call in flight FAILS with a clear error naming the call and the server: its outcome is
 *   unknown (the snapshot may or may not exist), so the activity fails and Temporal retries it; the
 *   retried operation is idempotent (finds the snapshot or VM by name) and the session is renewed by a
 *   fresh login on NotAuthenticated.
 *
 * What vcsim does not simulate, and the stand-in: a real vCenter keeps its inventory and datastores
 * across a restart; vcsim starts empty (new datastore folders, no VMs created before). So after the
 * restart the test expects the upload's extents to be sent again, and the VM created earlier to be
 * reported missing by name; re-creating it under the same name is what the retried activity does.
 */
const MiB = 1024 * 1024;
let port: number;
let sim: Vcsim;
let work: string;
let source: string;
let connector: VsphereConnector;

// Holding CreateSnapshot_Task for 3 s keeps a call in flight while vcsim is killed.
const start = () =>
  startVcsim({ port, inventory: { folder: 1 }, extraArgs: ['-method-delay', 'CreateSnapshot_Task:3000'] });

async function crashAndRestart(): Promise<void> {
  await sim.kill();
  sim = await start();
}

beforeAll(async () => {
  port = await freePort();
  sim = await start();
  work = scratchDir('vsphere-restart');
  source = await makeTestVmdk(work, 4);
  connector = vcsimConnector(sim);
});

afterAll(async () => {
  await connector?.close();
  await sim?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('an upload resumes across a vCenter restart and re-sends what the restarted server lost', async () => {
  let restart: Promise<void> | undefined;
  const retries: Error[] = [];
  await connector.uploadDisk(source, 'lamina/restart.vmdk', {
    extentBytes: MiB,
    onRetry: (err) => retries.push(err),
    onProgress: (p) => {
      if (p.done > MiB && p.done < 2 * MiB) restart ??= crashAndRestart(); // while extent 2 is sent
    },
  });
  await restart;
  expect(retries.length).toBeGreaterThan(0);
  const datastore = sim.datastoreDir('LocalDS_0');
  expect(fs.readdirSync(path.join(datastore, 'lamina')).sort()).toEqual([
    'restart-f002.vmdk',
    'restart-f003.vmdk',
    'restart-f004.vmdk',
    'restart-flat.vmdk',
    'restart.vmdk',
  ]);
  await qemuCompare(source, path.join(datastore, 'lamina/restart.vmdk'));
});

test('a call in flight when vCenter goes down fails naming call and server; after the restart the session is renewed', async () => {
  await connector.uploadDisk(source, 'lamina/vm-disk.vmdk');
  await connector.createVm({ name: 'lamina-master', disks: ['lamina/vm-disk.vmdk'] });
  const snapshot = connector.createSnapshot('lamina-master', 'published');
  await new Promise((resolve) => setTimeout(resolve, 500));
  await crashAndRestart();
  await expect(snapshot).rejects.toThrow(
    new RegExp(
      `^CreateSnapshot_Task on VirtualMachine \\S+: cannot reach vCenter at 127\\.0\\.0\\.1:${port}: `,
    ),
  );

  // Same connector, same (now unknown) session cookie: the next call logs in again by itself.
  await expect(connector.powerState('lamina-master')).rejects.toThrow(
    "VM 'lamina-master' not found in folder 'F0' of DC0",
  );
  // What the retried activity does: the idempotent steps run again and succeed on the new server.
  await connector.uploadDisk(source, 'lamina/vm-disk.vmdk');
  const { created } = await connector.createVm({ name: 'lamina-master', disks: ['lamina/vm-disk.vmdk'] });
  expect(created).toBe(true);
  const snapshotRef = await connector.createSnapshot('lamina-master', 'published');
  expect(snapshotRef.type).toBe('VirtualMachineSnapshot');
});
