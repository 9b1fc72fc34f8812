import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../../api/tasks/task-service';
import { PayloadEncryptionCodec } from '../../config/payload-codec';
import { createConnector } from '../../connectors';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import { ENGINE_CA_CERTIFICATE } from '../../connectors/azure/azure-ce-host';
import { storagePipeline } from '../../connectors/azure/blob-storage';
import { ENGINE_TAG } from '../../connectors/azure/resource-manager';
import type { AzureConnectorSettings } from '../../connectors/azure/settings';
import type { LocalVmHost } from '../../connectors/local/local-vm-host';
import { getConnector } from '../../db/connectors';
import { run } from '../../lib/processes';
import { projectRoot } from '../../lib/project-root';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import type { IpsBlobPrepareResult, IpsPrepareResult } from '../../workflows/ips-phases';
import type { IpsRunResult } from '../../workflows/ips-workflows';
import { selfSignedCertificate, type ArmFake } from '../azure/arm-fake';
import { armFakeFor, armSettings, ARM_SECRET } from '../azure/arm-fixtures';
import { azuriteConnectorThroughApi, azuriteSettings, serviceClient } from '../azure/fixtures';
import { expectWorkerFailures, failureLogged, testDir } from '../harness';
import { engineRecords } from '../offload/helpers';
import {
  completed,
  eventually,
  fileshareConnector,
  finished,
  LOCAL_CONNECTOR,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { AzureEngineGuests } from './azure-engine-guests';
import { exportHive, expectPreparedLikeAppliance, makeVmwareWindowsDisk } from './fixtures';

/**
 * Prepare in a Compositing Engine in Azure (issue 18): with the Azure connector's Offload Compositing
 * on, ipsRun goes Export → Upload → Prepare → Publish as the reference orders it. The exported disk is
 * uploaded as a page blob (`<name>-source.vhd`), an engine VM is made through Resource Manager from the
 * connector's engine image, the engine reads that blob and writes the prepared one (`<name>.vhd`) with
 * blob-scoped SAS tokens the appliance sealed for it, the engine VM is deleted, and the managed disk,
 * image and master image VM are made from the prepared blob.
 *
 * Real: Azurite (every blob, the SAS tokens' scopes), Temporal, Postgres, the prepare. Resource Manager
 * is the recorded-contract fake (test/azure/arm-fake.ts), reached through the SDK; it boots no VM, so
 * AzureEngineGuests stands in for the engine VM's guest, starting `lamina ce` on this machine with the
 * environment the VM's custom data carries and killing it when the VM is deleted. What the fake cannot
 * show: an engine VM booting its image, Azure's networking between the engine, the appliance and the
 * storage account (here all loopback).
 */

jest.setTimeout(600_000);

const execFileAsync = promisify(execFile);
const RECORDING_KEY = fs
  .readFileSync(path.join(__dirname, '..', 'histories', 'recording-key.base64'), 'utf8')
  .trim();

const GROUP = '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg';
const COMPUTE = `${GROUP}/providers/Microsoft.Compute`;
let app: Appliance;
let azurite: Azurite;
let arm: ArmFake;
let guests: AzureEngineGuests;
/** Where each engine guest's log (`<engine id>.log`) is. */
let guestLogs: string;
/** The engine image every engine VM is made from. */
let ceImageId: string;
let share: { id: string; mountPoint: string };
let azureId: string;
let azure: AzureConnector;
let dir: string;
let vmId: string;
/** The VM's disk as made (a synthetic Windows disk with VMware Tools, joined to a domain). */
let goldDisk: string;
/** What is there before any task: the engine image, and its blob. */
let resourcesBefore: string[];
let blobsBefore: string[];

beforeAll(async () => {
  azurite = await startAzurite();
  arm = await armFakeFor(azurite);
  // The test-only key the committed replay histories are sealed with: this file's runs are the ones
  // recorded for the Azure engine paths (ipsRun-azure-engine-v1, ipsPrepare-azure-source-blob-v1).
  app = await startAppliance({ env: { LAMINA_MASTER_KEY: RECORDING_KEY } });
  await serviceClient(azurite).getContainerClient('images').create();
  share = await fileshareConnector(app.api);
  dir = testDir('ips-prepare-offload-azure');
  // The engine image: a managed image of a small disk (the fake boots nothing from it).
  const settings = azuriteSettings(azurite, armSettings(arm));
  azure = new AzureConnector(settings, { clientSecret: ARM_SECRET, storageKey: azurite.accountKey });
  const ceDisk = path.join(dir, 'lamina-ce.vhdx');
  await run('qemu-img', ['create', '-f', 'vhdx', ceDisk, '8M']);
  await azure.uploadVhd(ceDisk, 'lamina-ce.vhd');
  ceImageId = await azure
    .resourceManager()
    .createImageFromBlob('lamina-ce', azure.blobUrl('lamina-ce.vhd'), 'V2');
  azureId = await azuriteConnectorThroughApi(app.api, azurite, 'Azure (Azurite) with engines', {
    settings: { ...armSettings(arm), ceImageId },
    clientSecret: ARM_SECRET,
    offloadCompositing: true,
  });
  guestLogs = testDir('ips-azure-engine-guests');
  guests = new AzureEngineGuests(arm, guestLogs);
  goldDisk = await makeVmwareWindowsDisk(dir, 'local-gold.vhdx');
  const host = createConnector((await getConnector(app.stack.pool, LOCAL_CONNECTOR))!).vms as LocalVmHost;
  await host.uploadDisk('win10-gold', goldDisk);
  vmId = 'win10-gold-vm';
  await host.createVm({
    id: vmId,
    name: 'win10-gold',
    disks: [{ name: 'boot', from: 'win10-gold' }],
    tags: {},
  });
  resourcesBefore = arm.resourceIds();
  blobsBefore = await azure.listBlobs('');
}, 600_000);

afterAll(async () => {
  await guests?.stop();
  await app?.stop();
  await arm?.stop();
  await azurite?.stop();
});

const runTo = (name: string, source: { vmId: string } | { sourceDisk: string }) =>
  app.api.post('/api/ips/run', {
    sourceProvisioning: 'vmId' in source ? 'MCS' : 'PVS',
    targetProvisioning: 'MCS',
    shareConnectorId: share.id,
    ...('vmId' in source ? { sourceConnectorId: LOCAL_CONNECTOR } : {}),
    ...source,
    targetConnectorId: azureId,
    name,
    DomainUnjoin: true,
  });

/** Engine VMs in the fake (tagged with their engine id), with the OS disks and NICs they made. */
function engineResources(): string[] {
  return arm.resourceIds().filter((id) => /lamina-ce-[0-9a-f]{8}/.test(id));
}

async function expectNoEngine(): Promise<void> {
  expect(engineResources()).toEqual([]);
  expect(await azure.resourceManager().engineVms()).toEqual(new Map());
  await eventually(async () => guests.running.size === 0);
  expect(await engineRecords(app)).toBe(0);
}

let goldReference: Promise<IpsPrepareResult> | undefined;

/**
 * The gold disk prepared on the appliance for Azure (MCS, DomainUnjoin), once for the file: what an
 * engine that prepares the gold disk's blob with those options must write.
 */
function goldPreparedOnAppliance(): Promise<IpsPrepareResult> {
  goldReference ??= (async () => {
    fs.copyFileSync(goldDisk, path.join(share.mountPoint, 'gold.vhdx'));
    return completed<IpsPrepareResult>(
      app.api,
      await app.api.post('/api/ips/prepare', {
        shareConnectorId: share.id,
        fileName: 'gold.vhdx',
        targetConnectorId: azureId,
        provisioningType: 'MCS',
        DomainUnjoin: true,
      }),
    );
  })();
  return goldReference;
}

/**
 * What a prepare of the blob Gold-source.vhd must show: Gold.vhd beside it at `endpoint`, written by an
 * engine that booted for it, with the steps and the content of the gold disk's prepare on the appliance
 * (the blob downloaded with `storage`). Answers the task's result and the prepared volume.
 */
async function expectGoldBlobPrepared(
  task: Task,
  endpoint: string,
  storage: AzureConnector,
  name: string,
): Promise<{ prepared: IpsBlobPrepareResult; volume: string }> {
  const prepared = task.result as IpsBlobPrepareResult;
  expect(prepared).toMatchObject({
    blobName: 'Gold.vhd',
    sourceBlob: 'Gold-source.vhd',
    url: `${endpoint}/images/Gold.vhd`,
  });
  expect(guests.booted).toContain(prepared.engineId);
  const reference = await goldPreparedOnAppliance();
  expect(prepared.steps).toEqual(reference.steps);
  const blob = path.join(dir, `${name}.vhd`);
  await storage.downloadBlob('Gold.vhd', blob);
  expect(prepared.blobSize).toBe(fs.statSync(blob).size);
  const volume = await expectPreparedLikeAppliance(
    blob,
    path.join(share.mountPoint, reference.fileName),
    dir,
    'removed',
  );
  fs.rmSync(blob);
  return { prepared, volume };
}

/**
 * Every text in the task's workflow history, payloads opened (the test-only master key): the inputs,
 * results and failures an admin of the task can read.
 */
async function historyText(taskId: string): Promise<string> {
  const history = await app.stack.client.workflow.getHandle(taskId).fetchHistory();
  const codec = new PayloadEncryptionCodec([Buffer.from(RECORDING_KEY, 'base64')]);
  const texts: string[] = [];
  const walk = async (value: unknown): Promise<void> => {
    if (typeof value === 'string') texts.push(value);
    if (!value || typeof value !== 'object' || value instanceof Uint8Array) return;
    if ('data' in value && 'metadata' in value && value.metadata && typeof value.metadata === 'object') {
      const [opened] = await codec.decode([value as Parameters<typeof codec.decode>[0][0]]);
      texts.push(Buffer.from(opened.data ?? new Uint8Array()).toString('utf8'));
      return;
    }
    for (const inner of Object.values(value)) await walk(inner);
  };
  await walk(history.events);
  return texts.join('\n');
}

test("the connector's Test checks the engine image it names", async () => {
  const settings = {
    ...azuriteSettings(azurite, armSettings(arm)),
    ceImageId: `${COMPUTE}/images/lamina-ce`,
  };
  const secrets = { clientSecret: ARM_SECRET, storageKey: azurite.accountKey };
  const checks = await new AzureConnector(settings, secrets).test();
  expect(checks.find((c) => c.field === 'ceImageId')).toEqual({
    field: 'ceImageId',
    ok: true,
    message: "Compositing Engine image 'lamina-ce' is in westeurope",
  });
  const missing = await new AzureConnector(
    { ...settings, ceImageId: `${COMPUTE}/images/nope` },
    secrets,
  ).test();
  expect(missing.find((c) => c.field === 'ceImageId')).toMatchObject({
    ok: false,
    message: expect.stringMatching(/images\/nope'.*ResourceNotFound/),
  });
});

describe('MCS to MCS to Azure with Offload Compositing', () => {
  let result: IpsRunResult;
  let prepared: IpsBlobPrepareResult;

  beforeAll(async () => {
    result = await completed<IpsRunResult>(app.api, await runTo('Win10-ce', { vmId }));
    prepared = result.prepared as IpsBlobPrepareResult;
  }, 600_000);

  it('exports, uploads, prepares in an engine in Azure and publishes, in that order', () => {
    expect(result.phases).toEqual(['export', 'upload', 'prepare', 'publish']);
    expect(result.uploaded).toMatchObject({ blobName: 'Win10-ce-source.vhd' });
    expect(prepared).toMatchObject({
      blobName: 'Win10-ce.vhd',
      sourceBlob: 'Win10-ce-source.vhd',
      url: `${azurite.blobEndpoint}/images/Win10-ce.vhd`,
    });
    expect(prepared.engineId).toMatch(/^[0-9a-f-]{36}$/);
    // The engine that prepared it was the stand-in for its VM's guest, registered with this task.
    expect(guests.booted).toContain(prepared.engineId);
    expect(guests.registered(prepared.engineId)).toBe(true);
    // No SAS in what the task shows.
    expect(JSON.stringify(result)).not.toMatch(/sig=/);
  });

  it('made the engine VM from the engine image through Resource Manager, with its disk and NIC deleted with it', () => {
    const name = `lamina-ce-${prepared.engineId.slice(0, 8)}`;
    const put = arm.requests.find((r) => r.method === 'PUT' && r.path.endsWith(`/virtualMachines/${name}`));
    expect(put?.body).toMatchObject({
      location: 'westeurope',
      tags: { [ENGINE_TAG]: prepared.engineId },
      properties: {
        storageProfile: {
          imageReference: { id: `${COMPUTE}/images/lamina-ce` },
          osDisk: { createOption: 'FromImage', deleteOption: 'Delete' },
        },
        networkProfile: {
          networkInterfaceConfigurations: [{ name: `${name}-nic`, properties: { deleteOption: 'Delete' } }],
        },
      },
    });
    const environment = JSON.parse(
      Buffer.from(
        (put!.body!.properties as { osProfile: { customData: string } }).osProfile.customData,
        'base64',
      ).toString(),
    ) as Record<string, string>;
    expect(environment.LAMINA_CE_ID).toBe(prepared.engineId);
    expect(
      arm.requests.some((r) => r.method === 'DELETE' && r.path.endsWith(`/virtualMachines/${name}`)),
    ).toBe(true);
  });

  it('uploaded the exported disk unprepared: the source blob equals it (qemu-img compare -f vpc)', async () => {
    const blob = path.join(dir, 'source-blob.vhd');
    await azure.downloadBlob('Win10-ce-source.vhd', blob);
    await run('qemu-img', [
      'compare',
      '-f',
      'vpc',
      '-F',
      'vhdx',
      blob,
      path.join(share.mountPoint, 'Win10-ce.vhdx'),
    ]);
    fs.rmSync(blob);
  }, 300_000);

  it('writes the prepared blob the appliance prepares for Azure without an engine', async () => {
    // The reference: the exported disk prepared on the appliance for the same target (an Azure engine
    // cannot reach the share, so a prepare of a disk there runs on the appliance).
    const reference = await completed<IpsPrepareResult>(
      app.api,
      await app.api.post('/api/ips/prepare', {
        shareConnectorId: share.id,
        fileName: 'Win10-ce.vhdx',
        targetConnectorId: azureId,
        output: 'Win10-ce-reference.vhdx',
        provisioningType: 'MCS',
        DomainUnjoin: true,
      }),
    );
    expect(reference.engineId).toBeUndefined();
    expect(prepared.steps).toEqual(reference.steps);
    const blob = path.join(dir, 'prepared-blob.vhd');
    await azure.downloadBlob('Win10-ce.vhd', blob);
    await run('qemu-img', ['check', '-f', 'vpc', blob]).catch((err: Error) => {
      // qemu-img check has nothing to check in a fixed VHD; it says so and exits 63.
      if (!/does not support checks/.test(err.message)) throw err;
    });
    expect(prepared.blobSize).toBe(fs.statSync(blob).size);
    const onAppliance = path.join(share.mountPoint, 'Win10-ce-reference.vhdx');
    const volume = await expectPreparedLikeAppliance(blob, onAppliance, dir, 'removed');
    const services = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services', dir);
    expect(services).toContain('"SanPolicy"=dword:00000001');
  }, 300_000);

  it('publishes from the prepared blob, and leaves no engine VM, disk or NIC', async () => {
    expect(arm.resource(`${COMPUTE}/disks/Win10-ce`)?.properties).toMatchObject({
      creationData: { createOption: 'Import', sourceUri: `${azurite.blobEndpoint}/images/Win10-ce.vhd` },
    });
    expect(arm.resourceIds()).toEqual(
      [
        ...resourcesBefore,
        `${COMPUTE}/disks/Win10-ce`,
        `${COMPUTE}/images/Win10-ce`,
        `${COMPUTE}/virtualMachines/Win10-ce`,
        `${GROUP}/providers/Microsoft.Network/networkInterfaces/Win10-ce-nic`,
      ].sort(),
    );
    await expectNoEngine();
    expect((await azure.listBlobs('')).sort()).toEqual(
      [...blobsBefore, 'Win10-ce-source.vhd', 'Win10-ce.vhd'].sort(),
    );
  });
});

test('a prepare that fails in its engine removes the engine VM and both blobs', async () => {
  await run('qemu-img', ['create', '-f', 'vhdx', path.join(share.mountPoint, 'blank.vhdx'), '64M']);
  const resources = arm.resourceIds();
  const blobs = (await azure.listBlobs('')).sort();
  const started = await runTo('Blank', { sourceDisk: 'blank.vhdx' });
  const task = await finished(app.api, started);

  expect(task.state).toBe('failed');
  expect(task.error).toMatch(/no MBR or GPT partition table/);
  await failureLogged(started.body.id);
  expectWorkerFailures({ kind: 'workflow', error: /no MBR or GPT partition table/ });
  await expectNoEngine();
  expect(arm.resourceIds()).toEqual(resources);
  expect((await azure.listBlobs('')).sort()).toEqual(blobs);
});

test('a run stopped while its engine prepares removes the engine VM and both blobs', async () => {
  const resources = arm.resourceIds();
  const blobs = (await azure.listBlobs('')).sort();
  const started = await runTo('Stopped', { vmId });
  expect(started.status).toBe(202);
  // The engine runs: its guest registered (the prepare is scheduled on it at once).
  await eventually(async () => guests.anyRegistered(), 300_000);
  expect(engineResources().length).toBeGreaterThan(0);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`, {})).status).toBe(200);
  const task = (await finished(app.api, started)) as Task;

  expect(task.state).toBe('cancelled');
  await expectNoEngine();
  expect(arm.resourceIds()).toEqual(resources);
  expect((await azure.listBlobs('')).sort()).toEqual(blobs);
});

/**
 * A page blob already in the connector's container (uploaded by the admin, as Citrix.Image.Uploader or
 * `lamina ips upload` do), prepared with `sourceBlob`: in an engine in Azure, blob to blob, the source
 * left as it was. Through the CLI (`lamina ips prepare --source-blob`) and the API.
 */
describe('a blob already uploaded, prepared in an engine in Azure (sourceBlob)', () => {
  let lamina: (...args: string[]) => Promise<string>;
  /** The gold disk prepared on the appliance for the same target and options: what the engine must write. */
  let sourceEtag: string | undefined;
  let offloadOffId: string;
  const etagOf = async (blob: string) =>
    (await serviceClient(azurite).getContainerClient('images').getBlobClient(blob).getProperties()).etag;
  /** Engine VMs Resource Manager was asked to make so far. */
  const engineVmPuts = () =>
    arm.requests.filter((r) => r.method === 'PUT' && /\/virtualMachines\/lamina-ce-/.test(r.path)).length;
  const prepareBlob = (body: Record<string, unknown>) =>
    app.api.post('/api/ips/prepare', {
      targetConnectorId: azureId,
      provisioningType: 'MCS',
      DomainUnjoin: true,
      ...body,
    });

  beforeAll(async () => {
    const token = await app.api.post('/api/tokens', { name: 'cli' });
    expect(token.status).toBe(201);
    const env = { ...process.env, LAMINA_API_URL: app.stack.apiUrl!, LAMINA_API_TOKEN: token.body.token };
    lamina = async (...args) =>
      (await execFileAsync(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), ...args], { env }))
        .stdout;
    await azure.uploadVhd(goldDisk, 'Gold-source.vhd');
    sourceEtag = await etagOf('Gold-source.vhd');
    await goldPreparedOnAppliance();
    offloadOffId = await azuriteConnectorThroughApi(app.api, azurite, 'Azure (Azurite) without engines', {
      settings: armSettings(arm),
      clientSecret: ARM_SECRET,
    });
  }, 600_000);

  it('prepares it into <name>.vhd for <name>-source.vhd with lamina ips prepare --source-blob, the source left as it was', async () => {
    const resources = arm.resourceIds();
    const blobs = await azure.listBlobs('');
    const task = JSON.parse(
      await lamina(
        'ips',
        'prepare',
        '--source-blob',
        'Gold-source.vhd',
        '--target',
        azureId,
        '--provisioning',
        'MCS',
        '--DomainUnjoin',
        '--wait',
        '--json',
      ),
    ) as Task;
    expect(task).toMatchObject({ type: 'ipsPrepare', state: 'completed' });
    expect(JSON.stringify(task)).not.toMatch(/sig=/);
    const { volume } = await expectGoldBlobPrepared(task, azurite.blobEndpoint, azure, 'gold-prepared-blob');
    expect(await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services', dir)).toContain(
      '"SanPolicy"=dword:00000001',
    );
    // The source: not written (same ETag), and still the gold disk (qemu-img compare -f vpc).
    expect(await etagOf('Gold-source.vhd')).toBe(sourceEtag);
    const source = path.join(dir, 'gold-source-blob.vhd');
    await azure.downloadBlob('Gold-source.vhd', source);
    await run('qemu-img', ['compare', '-f', 'vpc', '-F', 'vhdx', source, goldDisk]);
    fs.rmSync(source);
    // Left: the prepared blob; no engine VM, disk or NIC.
    await expectNoEngine();
    expect(arm.resourceIds()).toEqual(resources);
    expect((await azure.listBlobs('')).sort()).toEqual([...blobs, 'Gold.vhd'].sort());
  }, 600_000);

  it('refuses a blob that is not there, naming it, and an output blob that is, before an engine is made', async () => {
    const blobs = (await azure.listBlobs('')).sort();
    const puts = engineVmPuts();
    const missing = await prepareBlob({ sourceBlob: 'Nope-source.vhd' });
    const missingTask = await finished(app.api, missing);
    expect(missingTask.state).toBe('failed');
    expect(missingTask.error).toContain(
      `${azurite.blobEndpoint}/images/Nope-source.vhd does not exist: container 'images' has no blob 'Nope-source.vhd'`,
    );
    await failureLogged(missing.body.id);
    expectWorkerFailures(
      { type: 'ipsBlobPrepareCheck', error: /Nope-source\.vhd does not exist/ },
      { kind: 'workflow', error: /Nope-source\.vhd does not exist/ },
    );

    // Gold.vhd is the default output of Gold-source.vhd, and there already: not overwritten, not removed.
    const preparedEtag = await etagOf('Gold.vhd');
    const exists = await prepareBlob({ sourceBlob: 'Gold-source.vhd' });
    const existsTask = await finished(app.api, exists);
    expect(existsTask.state).toBe('failed');
    expect(existsTask.error).toContain(`${azurite.blobEndpoint}/images/Gold.vhd exists already`);
    await failureLogged(exists.body.id);
    expectWorkerFailures(
      { type: 'ipsBlobPrepareCheck', error: /Gold\.vhd exists already/ },
      { kind: 'workflow', error: /Gold\.vhd exists already/ },
    );
    expect(await etagOf('Gold.vhd')).toBe(preparedEtag);

    expect(engineVmPuts()).toBe(puts);
    expect(await engineRecords(app)).toBe(0);
    expect((await azure.listBlobs('')).sort()).toEqual(blobs);
  });

  it('refuses sourceBlob with a share source, for a connector other than Azure, and on Azure with Offload Compositing off', async () => {
    const both = await prepareBlob({
      sourceBlob: 'Gold-source.vhd',
      shareConnectorId: share.id,
      fileName: 'gold.vhdx',
    });
    expect(both.status).toBe(400);
    expect(both.body.errors).toEqual([
      {
        field: 'body.sourceBlob',
        message: 'give the disk on a share (shareConnectorId and fileName) or sourceBlob, not both',
      },
    ]);
    const neither = await prepareBlob({});
    expect(neither.status).toBe(400);
    expect(neither.body.errors).toEqual([
      {
        field: 'body.fileName',
        message:
          'give the disk to prepare: shareConnectorId and fileName, or sourceBlob (a page blob in the Azure connector)',
      },
    ]);
    const same = await prepareBlob({ sourceBlob: 'Gold-source.vhd', outputBlob: 'Gold-source.vhd' });
    expect(same.status).toBe(400);
    expect(same.body.errors[0].field).toBe('body.outputBlob');

    const local = await prepareBlob({ sourceBlob: 'Gold-source.vhd', targetConnectorId: LOCAL_CONNECTOR });
    expect(local.status).toBe(422);
    expect(local.body.errors).toEqual([
      {
        field: 'body.sourceBlob',
        message: expect.stringMatching(/is of type 'local': prepare a disk on a share for it/),
      },
    ]);
    // The CLI says the API's refusal and exits non-zero.
    await expect(
      lamina(
        'ips',
        'prepare',
        '--source-blob',
        'Gold-source.vhd',
        '--target',
        offloadOffId,
        '--provisioning',
        'MCS',
      ),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        "connector 'Azure (Azurite) without engines' has Offload Compositing off: a blob in Azure is prepared in a Compositing Engine in Azure",
      ),
    });
  });

  it('removes the prepared blob and the engine when the prepare fails or is stopped, and leaves the source', async () => {
    const resources = arm.resourceIds();
    const blobs = (await azure.listBlobs('')).sort();
    // A disk without a partition table: the engine fails to prepare it.
    const blank = path.join(dir, 'blank-for-blob.vhdx');
    await run('qemu-img', ['create', '-f', 'vhdx', blank, '64M']);
    await azure.uploadVhd(blank, 'Blank.vhd');
    const blankEtag = await etagOf('Blank.vhd');
    const failed = await prepareBlob({ sourceBlob: 'Blank.vhd' });
    const failedTask = await finished(app.api, failed);
    expect(failedTask.state).toBe('failed');
    expect(failedTask.error).toMatch(/no MBR or GPT partition table/);
    await failureLogged(failed.body.id);
    expectWorkerFailures({ kind: 'workflow', error: /no MBR or GPT partition table/ });
    await expectNoEngine();
    expect(await etagOf('Blank.vhd')).toBe(blankEtag);
    expect((await azure.listBlobs('')).sort()).toEqual([...blobs, 'Blank.vhd'].sort());

    const stopped = await prepareBlob({ sourceBlob: 'Gold-source.vhd', outputBlob: 'Gold-stopped.vhd' });
    expect(stopped.status).toBe(202);
    await eventually(async () => guests.anyRegistered(), 300_000);
    expect((await app.api.post(`/api/tasks/${stopped.body.id}/stop`, {})).status).toBe(200);
    expect((await finished(app.api, stopped)).state).toBe('cancelled');
    await expectNoEngine();
    expect(await etagOf('Gold-source.vhd')).toBe(sourceEtag);
    expect(arm.resourceIds()).toEqual(resources);
    expect((await azure.listBlobs('')).sort()).toEqual([...blobs, 'Blank.vhd'].sort());
  }, 600_000);
});

/**
 * A connector without the storage account key (an account that allows no shared key) whose storage
 * endpoint presents a certificate of the organisation's own CA (Azure Stack Hub, a private endpoint):
 * the engine's blob tokens are signed with a user delegation key, and the engine trusts the connector's
 * caCertificate, which its launch environment carries (LAMINA_CE_CA_CERTIFICATE), for its blob
 * clients. Azurite serves HTTPS with a self-signed certificate and `--oauth basic` (Get User Delegation
 * Key, user delegation SAS checked, the service principal's Entra ID token from the ARM fake taken for
 * the appliance's own blob requests) on a second port; Resource Manager is the same fake. What this
 * cannot show: a certificate chain of a real private CA (here the CA is the server's own certificate).
 */
describe('a connector without the storage key, on storage with its own CA (caCertificate)', () => {
  let secure: Azurite;
  let settings: AzureConnectorSettings;
  let keylessId: string;
  /** The test's own view of the secure emulator's container (with the account key the connector lacks). */
  let keyed: AzureConnector;
  let sourceEtag: string | undefined;
  const blobProperties = (blob: string) =>
    serviceClient(secure, storagePipeline(settings))
      .getContainerClient('images')
      .getBlobClient(blob)
      .getProperties();

  beforeAll(async () => {
    const tls = await selfSignedCertificate(testDir('ips-azure-keyless-tls'));
    secure = await startAzurite({ oauth: tls });
    const overrides = {
      ...armSettings(arm),
      caCertificate: `${tls.certificate}${arm.certificate}`,
      ceImageId,
    };
    settings = azuriteSettings(secure, overrides);
    keyed = new AzureConnector(settings, { clientSecret: ARM_SECRET, storageKey: secure.accountKey });
    await serviceClient(secure, storagePipeline(settings)).getContainerClient('images').create();
    await keyed.uploadVhd(goldDisk, 'Gold-source.vhd');
    sourceEtag = (await blobProperties('Gold-source.vhd')).etag;
    keylessId = await azuriteConnectorThroughApi(
      app.api,
      secure,
      'Azure (Azurite over HTTPS) without the key',
      {
        settings: overrides,
        clientSecret: ARM_SECRET,
        offloadCompositing: true,
        keyless: true,
      },
    );
    await goldPreparedOnAppliance();
  }, 600_000);

  afterAll(async () => {
    await secure?.stop();
  });

  const prepareBlob = (body: Record<string, unknown>) =>
    app.api.post('/api/ips/prepare', {
      targetConnectorId: keylessId,
      provisioningType: 'MCS',
      DomainUnjoin: true,
      ...body,
    });

  it("prepares a blob in an engine that trusts the connector's CA, with no storage key anywhere", async () => {
    const resources = arm.resourceIds();
    const blobs = await keyed.listBlobs('');
    const started = await prepareBlob({ sourceBlob: 'Gold-source.vhd' });
    const task = await finished(app.api, started);
    expect(task.error).toBeUndefined();
    expect(task.state).toBe('completed');
    // The prepared blob: what the appliance's prepare gives.
    const { prepared } = await expectGoldBlobPrepared(
      task,
      secure.blobEndpoint,
      keyed,
      'keyless-prepared-blob',
    );
    expect(guests.registered(prepared.engineId)).toBe(true);
    // The source only read.
    expect((await blobProperties('Gold-source.vhd')).etag).toBe(sourceEtag);

    // The engine's launch environment: the connector's CA, no storage key, no client secret, no SAS.
    // (As its VM's custom data carried it to the guest: AzureEngineGuests reads it from Resource Manager.)
    const environment = guests.environments.get(prepared.engineId)!;
    expect(environment[ENGINE_CA_CERTIFICATE]).toBe(settings.caCertificate);
    const launched = JSON.stringify(environment);
    expect(launched).not.toContain(secure.accountKey);
    expect(launched).not.toContain(ARM_SECRET);
    expect(launched).not.toMatch(/sig=|storageKey|clientSecret/);
    // Nothing secret in what the task's admins read: its history (payloads opened), nor its record.
    const history = await historyText(started.body.id);
    expect(history).toContain('Gold-source.vhd');
    for (const secret of [secure.accountKey, ARM_SECRET, environment.LAMINA_CE_TOKEN, 'sig='])
      expect(history).not.toContain(secret);
    expect(JSON.stringify(task)).not.toMatch(/sig=|BEGIN CERTIFICATE/);
    // The certificate is no secret, but the engine does not log it.
    expect(fs.readFileSync(path.join(guestLogs, `${prepared.engineId}.log`), 'utf8')).not.toContain(
      'BEGIN CERTIFICATE',
    );

    // No engine VM, disk, NIC or record left; the prepared blob is the one blob added.
    await expectNoEngine();
    expect(arm.resourceIds()).toEqual(resources);
    expect((await keyed.listBlobs('')).sort()).toEqual([...blobs, 'Gold.vhd'].sort());
  }, 600_000);

  it('fails naming the certificate when the engine is not given the CA, and removes the engine and the output', async () => {
    const resources = arm.resourceIds();
    const blobs = (await keyed.listBlobs('')).sort();
    // A guest whose launch environment lost the CA: its blob clients trust the public CAs only.
    guests.tamper = ({ [ENGINE_CA_CERTIFICATE]: _ca, ...rest }) => rest;
    try {
      const started = await prepareBlob({ sourceBlob: 'Gold-source.vhd', outputBlob: 'Gold-untrusted.vhd' });
      const task = await finished(app.api, started);
      expect(task.state).toBe('failed');
      const untrusted = new RegExp(
        `the Compositing Engine does not trust the certificate of the storage endpoint https://127\\.0\\.0\\.1:${secure.port} ` +
          '\\(DEPTH_ZERO_SELF_SIGNED_CERT: self[- ]signed certificate\\): give the connector the CA that issued it as its caCertificate',
      );
      expect(task.error).toMatch(untrusted);
      await failureLogged(started.body.id);
      expectWorkerFailures({ kind: 'workflow', error: untrusted });
    } finally {
      guests.tamper = (e) => e;
    }
    await expectNoEngine();
    expect((await blobProperties('Gold-source.vhd')).etag).toBe(sourceEtag);
    expect(arm.resourceIds()).toEqual(resources);
    expect((await keyed.listBlobs('')).sort()).toEqual(blobs);
  }, 600_000);
});
