import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import { createConnector } from '../../connectors';
import type { LocalVmHost } from '../../connectors/local/local-vm-host';
import { readProperties } from '../../connectors/vsphere/property-collector';
import { findVmInFolder } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { getConnector } from '../../db/connectors';
import { run } from '../../lib/processes';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { startVcsim, type Vcsim } from '../../runtime/vcsim';
import type { IpsPrepareResult, IpsPublishResult } from '../../workflows/ips-phases';
import type { IpsRunResult } from '../../workflows/ips-workflows';
import { expectWorkerFailures, failureLogged, testDir } from '../harness';
import type { ArmFake } from '../azure/arm-fake';
import { armFakeFor, armSettings, ARM_SECRET } from '../azure/arm-fixtures';
import { azuriteConnectorThroughApi, azuriteSettings, serviceClient } from '../azure/fixtures';
import { datastoreFiles, vcsimConnector, vcsimConnectorThroughApi } from '../vsphere/fixtures';
import {
  completed,
  fileshareConnector,
  filesUnder,
  finished,
  LOCAL_CONNECTOR,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { exportHive, makeVmwareWindowsDisk, windowsVolume } from './fixtures';

/**
 * ipsRun end to end through the API, on the harness's Temporal and Postgres, with real peers: Azurite for
 * Azure storage, vcsim for vSphere, mount points standing in for the mounted shares; Azure Resource
 * Manager and Entra ID are the recorded-contract fake (test/azure/arm-fake.ts), reached through the SDK.
 *
 * What the peers cannot show: Azure copying the blob into the managed disk and a VM booting the prepared
 * image (the checks are on the disk: hivexregedit and ntfscat on the prepared volume, qemu-img on every
 * copy; on ARM, the requests the SDK sent and the resources the fake holds).
 */
let app: Appliance;
let azurite: Azurite;
let arm: ArmFake;
let sim: Vcsim;
let vsphere: VsphereConnector;
let share: { id: string; mountPoint: string };
let store: { id: string; mountPoint: string };
let azureId: string;
let vsphereId: string;
let dir: string;

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(async () => {
  // One after the other: each is stopped in afterAll even when a later one fails to start.
  azurite = await startAzurite();
  arm = await armFakeFor(azurite);
  sim = await startVcsim({ inventory: { folder: 1 } });
  app = await startAppliance();
  await serviceClient(azurite).getContainerClient('images').create();
  share = await fileshareConnector(app.api);
  store = await fileshareConnector(app.api);
  azureId = await azuriteConnectorThroughApi(app.api, azurite, 'Azure (Azurite)', {
    settings: armSettings(arm),
    clientSecret: ARM_SECRET,
  });
  vsphereId = await vcsimConnectorThroughApi(app.api, sim);
  vsphere = vcsimConnector(sim);
  dir = testDir('ips-run');
}, 300_000);

afterAll(async () => {
  await vsphere?.close();
  await app?.stop();
  await sim?.stop();
  await arm?.stop();
  await azurite?.stop();
});

async function localVmWith(disk: string, name: string): Promise<string> {
  const record = (await getConnector(app.stack.pool, LOCAL_CONNECTOR))!;
  const host = createConnector(record).vms as LocalVmHost;
  await host.uploadDisk(name, disk);
  const id = `${name}-vm`;
  await host.createVm({ id, name, disks: [{ name: 'boot', from: name }], tags: {} });
  return id;
}

describe('MCS to MCS: a VM on the local connector to Azure', () => {
  let result: IpsRunResult;
  let source: string;

  beforeAll(async () => {
    source = await makeVmwareWindowsDisk(dir, 'local-gold.vhdx');
    const vmId = await localVmWith(source, 'win10-gold');
    result = await completed<IpsRunResult>(
      app.api,
      await app.api.post('/api/ips/run', {
        sourceProvisioning: 'MCS',
        targetProvisioning: 'MCS',
        shareConnectorId: share.id,
        sourceConnectorId: LOCAL_CONNECTOR,
        vmId,
        targetConnectorId: azureId,
        name: 'Win10-azure',
        DomainUnjoin: true,
      }),
    );
  }, 600_000);

  it('exports, prepares, uploads and publishes, in that order', () => {
    expect(result.phases).toEqual(['export', 'prepare', 'upload', 'publish']);
  });

  it('exports the VM disk to the share as a VHDX with its SHA-256, equal to the VM disk', async () => {
    const exported = path.join(share.mountPoint, 'Win10-azure.vhdx');
    expect(result.exported).toMatchObject({
      fileName: 'Win10-azure.vhdx',
      location: '\\\\files\\images\\Win10-azure.vhdx',
    });
    expect(result.exported!.sha256).toBe(sha256(exported));
    expect(JSON.parse(await run('qemu-img', ['info', '--output=json', exported])).format).toBe('vhdx');
    await run('qemu-img', ['compare', source, exported]);
  });

  it('uploads the prepared image: the downloaded blob equals it (qemu-img compare -f vpc)', async () => {
    const prepared = path.join(share.mountPoint, 'Win10-azure-prepared.vhdx');
    expect((result.prepared as IpsPrepareResult).sha256).toBe(sha256(prepared));
    expect(result.uploaded).toMatchObject({
      blobName: 'Win10-azure.vhd',
      url: `${azurite.blobEndpoint}/images/Win10-azure.vhd`,
    });
    const azure = new AzureConnector(azuriteSettings(azurite), {
      clientSecret: 'x',
      storageKey: azurite.accountKey,
    });
    const blob = path.join(dir, 'downloaded.vhd');
    await azure.downloadBlob('Win10-azure.vhd', blob);
    await run('qemu-img', ['compare', '-f', 'vpc', '-F', 'vhdx', blob, prepared]);
    // What was prepared for Azure is in the blob: VMware Tools gone, the domain left.
    const volume = await windowsVolume(blob, dir);
    const services = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services', dir);
    expect(services).not.toMatch(/\\Services\\VMTools\]/);
    expect(services).toContain('"SanPolicy"=dword:00000001');
    expect(result.prepared.steps.find((s) => s.step === 'Domain')?.changes).toContain(
      'set HKLM\\SYSTEM\\CurrentControlSet\\Services\\Netlogon\\Start = manual (no domain secure channel)',
    );
  }, 300_000);

  it('publishes for MCS on Azure: a managed disk and an image of the blob, and the master image VM on the disk', () => {
    const group = '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg';
    const compute = `${group}/providers/Microsoft.Compute`;
    expect(result.published?.azure).toEqual({
      diskId: `${compute}/disks/Win10-azure`,
      imageId: `${compute}/images/Win10-azure`,
      vmId: `${compute}/virtualMachines/Win10-azure`,
    });
    expect(arm.resourceIds()).toEqual(
      [
        `${compute}/disks/Win10-azure`,
        `${compute}/images/Win10-azure`,
        `${compute}/virtualMachines/Win10-azure`,
        `${group}/providers/Microsoft.Network/networkInterfaces/Win10-azure-nic`,
      ].sort(),
    );
    // The gold disk is UEFI (GPT): Azure must boot it as generation 2; the disk is imported from the blob.
    expect(arm.resource(`${compute}/disks/Win10-azure`)?.properties).toMatchObject({
      hyperVGeneration: 'V2',
      provisioningState: 'Succeeded',
      creationData: { createOption: 'Import', sourceUri: `${azurite.blobEndpoint}/images/Win10-azure.vhd` },
    });
    expect(arm.resource(`${compute}/virtualMachines/Win10-azure`)?.properties).toMatchObject({
      hardwareProfile: { vmSize: 'Standard_D2s_v5' },
      storageProfile: {
        osDisk: { createOption: 'Attach', managedDisk: { id: `${compute}/disks/Win10-azure` } },
      },
    });
  });

  it('leaves the master image VM deallocated: MCS needs it only as the master', async () => {
    const azure = new AzureConnector(azuriteSettings(azurite, armSettings(arm)), {
      clientSecret: ARM_SECRET,
      storageKey: azurite.accountKey,
    });
    expect(await azure.resourceManager().powerStateOf('Win10-azure')).toBe('deallocated');
  });

  it('publishes an uploaded blob for MCS on Azure as a task of its own (ipsPublish)', async () => {
    const published = await completed<IpsPublishResult>(
      app.api,
      await app.api.post('/api/ips/publish', {
        shareConnectorId: share.id,
        fileName: 'Win10-azure-prepared.vhdx',
        targetConnectorId: azureId,
        provisioningType: 'MCS',
        name: 'Win10-again',
        blobName: 'Win10-azure.vhd',
      }),
    );
    const compute =
      '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg/providers/Microsoft.Compute';
    expect(published.azure).toEqual({
      diskId: `${compute}/disks/Win10-again`,
      imageId: `${compute}/images/Win10-again`,
      vmId: `${compute}/virtualMachines/Win10-again`,
    });
    expect(arm.resource(`${compute}/images/Win10-again`)?.properties).toMatchObject({
      storageProfile: { osDisk: { blobUri: `${azurite.blobEndpoint}/images/Win10-azure.vhd` } },
    });
  }, 300_000);

  it('leaves no scratch behind', () => {
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
  });
});

describe('PVS to MCS on Azure when Azure fails the master image VM', () => {
  it("fails naming Azure's error and removes everything it made: VM, image, disk, blob, prepared disk", async () => {
    await makeVmwareWindowsDisk(share.mountPoint, 'pvs-gold.vhdx');
    const before = fs.readdirSync(share.mountPoint).sort();
    const resourcesBefore = arm.resourceIds();
    arm.failNextCreate(
      'virtualMachines',
      'AllocationFailed',
      'Allocation failed. We do not have sufficient capacity.',
    );
    const started = await app.api.post('/api/ips/run', {
      sourceProvisioning: 'PVS',
      targetProvisioning: 'MCS',
      shareConnectorId: share.id,
      sourceDisk: 'pvs-gold.vhdx',
      targetConnectorId: azureId,
      name: 'Pvs-azure',
    });
    const task = await finished(app.api, started);
    expect(task.state).toBe('failed');
    expect(task.error).toContain("Azure could not create virtual machine 'Pvs-azure': AllocationFailed");
    await failureLogged(started.body.id, ['Activity failed', 'Workflow failed']);
    expectWorkerFailures(
      { type: 'ipsAzureCreate', error: /AllocationFailed/ },
      { kind: 'workflow', error: /AllocationFailed/ },
    );
    // The failed VM (ARM keeps it, state Failed), the image and the disk were deleted, VM first.
    expect(arm.resourceIds()).toEqual(resourcesBefore);
    const deletes = arm.requests.filter((r) => r.method === 'DELETE' && r.path.includes('Pvs-azure'));
    expect(deletes.map((r) => r.path.split('/').slice(-2).join('/'))).toEqual([
      'virtualMachines/Pvs-azure',
      'images/Pvs-azure',
      'disks/Pvs-azure',
    ]);
    const azure = new AzureConnector(azuriteSettings(azurite), {
      clientSecret: 'x',
      storageKey: azurite.accountKey,
    });
    expect(await azure.listBlobs('Pvs-azure')).toEqual([]);
    expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
  }, 600_000);
});

describe('MCS to PVS: a VM on vSphere (vcsim) to a PVS store share', () => {
  let result: IpsRunResult;

  beforeAll(async () => {
    const source = await makeVmwareWindowsDisk(dir, 'vsphere-gold.vhdx');
    await vsphere.uploadDisk(source, 'Win11-gold/Win11-gold.vmdk', { extentBytes: 2 ** 30 });
    await vsphere.createVm({ name: 'Win11-gold', disks: ['Win11-gold/Win11-gold.vmdk'] });
    const session = await vsphere.session();
    const vm = (await findVmInFolder(session.client, session.folder.ref, 'Win11-gold'))!;
    const vmId = (await readProperties(session.client, vm, ['config.instanceUuid'])).get(
      'config.instanceUuid',
    )!.text;
    result = await completed<IpsRunResult>(
      app.api,
      await app.api.post('/api/ips/run', {
        sourceProvisioning: 'MCS',
        targetProvisioning: 'PVS',
        shareConnectorId: share.id,
        sourceConnectorId: vsphereId,
        vmId,
        targetConnectorId: store.id,
        platform: 'vsphere',
        name: 'Win11-pvs',
      }),
    );
  }, 600_000);

  it('exports, prepares and publishes into the store a vDisk equal to the prepared image, with its properties file', async () => {
    expect(result.phases).toEqual(['export', 'prepare', 'publish']);
    const prepared = path.join(share.mountPoint, 'Win11-pvs-prepared.vhdx');
    const vdisk = path.join(store.mountPoint, 'Win11-pvs.vhdx');
    await run('qemu-img', ['compare', prepared, vdisk]);
    expect(result.published?.pvs?.disk.sha256).toBe(sha256(vdisk));
    const pvp = fs.readFileSync(path.join(store.mountPoint, 'Win11-pvs.pvp'), 'utf8');
    expect(pvp).toContain('[vDisk]');
    expect(pvp).toContain('Mode=0');
    expect(fs.readdirSync(store.mountPoint).sort()).toEqual(['Win11-pvs.pvp', 'Win11-pvs.vhdx']);
  }, 300_000);

  it('kept VMware Tools (the image stays on vSphere) and set PVS up', async () => {
    const volume = await windowsVolume(path.join(store.mountPoint, 'Win11-pvs.vhdx'), dir);
    expect(await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services\\VMTools', dir)).toContain(
      '"Start"=dword:00000002',
    );
    expect(await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services\\Tcpip\\Parameters', dir)).toContain(
      '"DisableTaskOffload"=dword:00000001',
    );
  }, 300_000);
});

describe('ipsUpload to its own targets: a vSphere datastore and another share', () => {
  let source: string;

  beforeAll(async () => {
    source = path.join(share.mountPoint, 'upload-me.vhdx');
    await run('qemu-img', ['create', '-f', 'vhdx', source, '96M']);
    await run('qemu-io', ['-c', 'write -P 0x5a 1M 8M', '-c', 'write -P 0xa5 60M 4M', source]);
  });

  it('puts the disk on the datastore as a VMDK equal to it', async () => {
    const result = await completed<{ connectorId: string; disk: string }>(
      app.api,
      await app.api.post('/api/ips/upload', {
        shareConnectorId: share.id,
        fileName: 'upload-me.vhdx',
        targetConnectorId: vsphereId,
      }),
    );
    expect(result).toEqual({ connectorId: vsphereId, disk: 'upload-me' });
    expect(datastoreFiles(sim)).toEqual(expect.arrayContaining(['lamina/disks/upload-me.vmdk']));
    await run('qemu-img', [
      'compare',
      source,
      path.join(sim.datastoreDir('LocalDS_0'), 'lamina/disks/upload-me.vmdk'),
    ]);
  }, 300_000);

  it('copies the disk to another share, with its SHA-256', async () => {
    const result = await completed<{ fileName: string; sha256: string; location: string }>(
      app.api,
      await app.api.post('/api/ips/upload', {
        shareConnectorId: share.id,
        fileName: 'upload-me.vhdx',
        targetConnectorId: store.id,
      }),
    );
    const copy = path.join(store.mountPoint, 'upload-me.vhdx');
    expect(result).toMatchObject({ fileName: 'upload-me.vhdx', sha256: sha256(source) });
    expect(sha256(copy)).toBe(sha256(source));
    fs.rmSync(copy);
  }, 300_000);

  it('refuses the share the disk is on, naming why', async () => {
    const refused = await app.api.post('/api/ips/upload', {
      shareConnectorId: share.id,
      fileName: 'upload-me.vhdx',
      targetConnectorId: share.id,
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].message).toContain('the disk is on that share already');
  });
});

describe('bad input through the API and in tasks', () => {
  it('refuses a Citrix Provisioning connector, naming why', async () => {
    const pvs = await app.api.post('/api/connectors', {
      type: 'pvs',
      name: 'PVS farm',
      settings: {
        server: 'pvs01',
        user: 'CORP\\svc',
        site: 'Site',
        store: 'Store',
        storePath: '\\\\pvs01\\store',
      },
      secrets: { password: 'x' },
    });
    expect(pvs.status).toBe(201);
    const refused = await app.api.post('/api/ips/publish', {
      shareConnectorId: share.id,
      fileName: 'x.vhdx',
      targetConnectorId: pvs.body.id,
      provisioningType: 'PVS',
      name: 'x',
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0]).toEqual({
      field: 'body.targetConnectorId',
      message: expect.stringContaining('Citrix Provisioning, which does not take Image Portability tasks'),
    });
  });

  it('fails a prepare of a disk without Windows, naming it, and leaves nothing on the share', async () => {
    await run('qemu-img', ['create', '-f', 'vhdx', path.join(share.mountPoint, 'blank.vhdx'), '64M']);
    const before = fs.readdirSync(share.mountPoint).sort();
    const started = await app.api.post('/api/ips/prepare', {
      shareConnectorId: share.id,
      fileName: 'blank.vhdx',
      targetConnectorId: azureId,
      provisioningType: 'MCS',
    });
    const task = await finished(app.api, started);
    expect(task.state).toBe('failed');
    expect(task.error).toContain('no MBR or GPT partition table');
    await failureLogged(started.body.id, ['Activity failed', 'Workflow failed']);
    expectWorkerFailures(
      { type: 'ipsPrepareDisk', error: /no MBR or GPT partition table/ },
      { kind: 'workflow', error: /no MBR or GPT partition table/ },
    );
    expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
  });

  it('fails an upload to a missing container, naming it, and leaves no blob', async () => {
    const missing = await azuriteConnectorThroughApi(app.api, azurite, 'Azure (missing container)', {
      settings: { container: 'nope' },
    });
    await run('qemu-img', ['create', '-f', 'vhdx', path.join(share.mountPoint, 'small.vhdx'), '64M']);
    const started = await app.api.post('/api/ips/upload', {
      shareConnectorId: share.id,
      fileName: 'small.vhdx',
      targetConnectorId: missing,
    });
    const task: Task = await finished(app.api, started);
    expect(task.state).toBe('failed');
    expect(task.error).toContain("container 'nope' of storage account 'devstoreaccount1' does not exist");
    await failureLogged(started.body.id, ['Activity failed', 'Workflow failed']);
    expectWorkerFailures(
      { type: 'ipsUploadToAzure', error: /container 'nope'/ },
      { kind: 'workflow', error: /container 'nope'/ },
    );
    const azure = new AzureConnector(azuriteSettings(azurite), {
      clientSecret: 'x',
      storageKey: azurite.accountKey,
    });
    expect(await azure.listBlobs('small')).toEqual([]);
  });
});
