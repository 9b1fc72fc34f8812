import fs from 'node:fs';
import path from 'node:path';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import { AzureResourceManagerError } from '../../connectors/azure/resource-manager';
import type { AzureConnectorSecrets, AzureConnectorSettings } from '../../connectors/azure/settings';
import { run } from '../../lib/processes';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { testDir } from '../harness';
import { ArmFake } from './arm-fake';
import { azuriteSettings, makeSourceDisk, serviceClient } from './fixtures';
import { armFakeFor, armSettings, ARM_SECRET } from './arm-fixtures';

/**
 * The Azure connector's Resource Manager side through the Azure SDK (`@azure/identity`,
 * `@azure/arm-compute`) against the recorded-contract fake (arm-fake.ts), with storage on Azurite.
 *
 * What the fake cannot show: Azure copying the blob into the managed disk (it checks the blob is there
 * with a fixed VHD's size), the VM booting, quotas and role assignments, ARM's real timing; the error
 * codes are those the ARM and Entra ID documentation give for each case.
 */
let azurite: Azurite;
let arm: ArmFake;
let dir: string;

beforeAll(async () => {
  azurite = await startAzurite();
  await serviceClient(azurite).getContainerClient('images').create();
  arm = await armFakeFor(azurite);
  dir = testDir('azure-resource-manager');
}, 180_000);

afterAll(async () => {
  await arm?.stop();
  await azurite?.stop();
});

const SUBNET_PARENT =
  '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg/providers/Microsoft.Network/virtualNetworks/vnet';

function connector(
  overrides: Partial<AzureConnectorSettings> = {},
  secrets: Partial<AzureConnectorSecrets> = {},
): AzureConnector {
  return new AzureConnector(
    { ...azuriteSettings(azurite, armSettings(arm)), ...overrides },
    { clientSecret: ARM_SECRET, storageKey: azurite.accountKey, ...secrets },
  );
}

const FIELDS = [
  'clientSecret',
  'subscriptionId',
  'resourceGroup',
  'location',
  'vmSize',
  'subnetId',
  'storageAccount',
  'container',
];

describe('Test checks each setting', () => {
  it('passes every setting of a good configuration', async () => {
    const checks = await connector().test();
    expect(checks.map((c) => c.field)).toEqual(FIELDS);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.field === 'vmSize')?.message).toBe(
      'Standard_D2s_v5 is offered in westeurope',
    );
  }, 60_000);

  it.each([
    [
      { tenantId: '00000000-0000-4000-8000-000000000000' },
      {},
      'tenantId',
      /sign-in metadata of tenant '0{8}-0{4}-4000-8000-0{12}' could not be read.*no such tenant/,
    ],
    [{ clientId: '00000000-0000-4000-8000-000000000001' }, {}, 'clientId', /AADSTS700016: Application/],
    [{}, { clientSecret: 'wrong' }, 'clientSecret', /AADSTS7000215: Invalid client secret/],
  ])(
    'names a refused sign-in (%j %j) on its field and checks nothing that needs it',
    async (settings, secrets, field, error) => {
      const checks = await connector(settings, secrets).test();
      expect(checks[0]).toEqual({ field, ok: false, message: expect.stringMatching(error) });
      for (const f of ['subscriptionId', 'resourceGroup', 'location', 'vmSize', 'subnetId']) {
        expect(checks.find((c) => c.field === f)).toEqual({
          field: f,
          ok: false,
          message: 'not checked: the sign-in failed',
        });
      }
      // Storage does not depend on the service principal here (the account key reaches it).
      expect(checks.find((c) => c.field === 'container')?.ok).toBe(true);
    },
    60_000,
  );

  it('names an expired client secret', async () => {
    arm.secretExpired = true;
    try {
      const [signIn] = await connector().test();
      expect(signIn).toEqual({
        field: 'clientSecret',
        ok: false,
        message: expect.stringContaining('AADSTS7000222: The provided client secret keys for app'),
      });
    } finally {
      arm.secretExpired = false;
    }
  }, 60_000);

  it('names a missing subscription, and checks nothing below it', async () => {
    const checks = await connector({ subscriptionId: '99999999-0000-4000-8000-000000000000' }).test();
    expect(checks[1]).toEqual({
      field: 'subscriptionId',
      ok: false,
      message: expect.stringContaining('SubscriptionNotFound'),
    });
    expect(checks[2].message).toBe('not checked: the subscription is not usable');
  }, 60_000);

  it.each([
    [
      { resourceGroup: 'nope-rg' },
      'resourceGroup',
      /ResourceGroupNotFound: Resource group 'nope-rg' could not be found/,
    ],
    [{ location: 'marsnorth' }, 'location', /location 'marsnorth': NoRegisteredProviderFound/],
    [{ vmSize: 'Standard_Z99' }, 'vmSize', /Standard_Z99 is not offered in location 'westeurope'/],
    [{ subnetId: `${SUBNET_PARENT}/subnets/missing` }, 'subnetId', /subnet .*missing.*NotFound/],
    [
      { container: 'nope' },
      'container',
      /container 'nope' of storage account 'devstoreaccount1' does not exist/,
    ],
  ])(
    'names a wrong setting %j on its own field, the others pass',
    async (settings, field, error) => {
      const checks = await connector(settings).test();
      const failed = checks.filter((c) => !c.ok);
      expect(failed[0]).toEqual({ field, ok: false, message: expect.stringMatching(error) });
      // A wrong location leaves the VM size unchecked; every other failure is alone.
      expect(failed.map((c) => c.field)).toEqual(field === 'location' ? ['location', 'vmSize'] : [field]);
    },
    60_000,
  );

  it('names a refused storage key on its field', async () => {
    const wrongKey = Buffer.alloc(64, 7).toString('base64');
    const checks = await connector({}, { storageKey: wrongKey }).test();
    expect(checks.filter((c) => !c.ok).map((c) => c.field)).toEqual(['storageKey', 'container']);
  }, 60_000);
});

describe('managed disk, image and master image VM from an uploaded blob', () => {
  it('makes them through the SDK as ARM takes them, and deletes them VM first', async () => {
    const azure = connector();
    const raw = path.join(dir, 'gpt.raw');
    await run('qemu-img', ['create', '-f', 'raw', raw, '40M']);
    await run('sgdisk', ['-o', '-n', '1:2048:0', '-t', '1:0700', raw]);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, path.join(dir, 'gpt.vhdx')]);
    await azure.uploadVhd(path.join(dir, 'gpt.vhdx'), 'gpt.vhd');
    expect(await azure.hyperVGenerationOf('gpt.vhd')).toBe('V2');

    const rm = azure.resourceManager();
    const blobUrl = azure.blobUrl('gpt.vhd');
    const diskId = await rm.createDiskFromBlob('Win10', blobUrl, 'V2');
    const imageId = await rm.createImageFromBlob('Win10', blobUrl, 'V2');
    const vmId = await rm.createMasterVm('Win10', 'Win10');
    const group = '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg';
    expect([diskId, imageId, vmId]).toEqual([
      `${group}/providers/Microsoft.Compute/disks/Win10`,
      `${group}/providers/Microsoft.Compute/images/Win10`,
      `${group}/providers/Microsoft.Compute/virtualMachines/Win10`,
    ]);
    // What the SDK sent, as the REST spec shapes it.
    const puts = arm.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.path)).toEqual([diskId, imageId, vmId]);
    expect(puts[0].body).toMatchObject({
      location: 'westeurope',
      properties: {
        osType: 'Windows',
        hyperVGeneration: 'V2',
        creationData: {
          createOption: 'Import',
          sourceUri: blobUrl,
          storageAccountId: `${group}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1`,
        },
      },
    });
    expect(puts[1].body).toMatchObject({
      properties: {
        storageProfile: { osDisk: { osType: 'Windows', osState: 'Generalized', blobUri: blobUrl } },
      },
    });
    expect(puts[2].body).toMatchObject({
      properties: {
        hardwareProfile: { vmSize: 'Standard_D2s_v5' },
        storageProfile: {
          osDisk: { createOption: 'Attach', managedDisk: { id: diskId }, deleteOption: 'Detach' },
        },
        networkProfile: {
          networkInterfaceConfigurations: [
            {
              name: 'Win10-nic',
              properties: {
                deleteOption: 'Delete',
                ipConfigurations: [{ properties: { subnet: { id: `${SUBNET_PARENT}/subnets/default` } } }],
              },
            },
          ],
        },
      },
    });
    // The operations were polled to their end (Azure-AsyncOperation), and the resources are there.
    expect(arm.requests.filter((r) => r.path.includes('/operations/')).length).toBeGreaterThanOrEqual(6);
    expect(arm.resource(vmId)?.properties).toMatchObject({ provisioningState: 'Succeeded' });
    // Azure started the VM it made; MCS needs it only as the master image, so it is deallocated.
    expect(arm.requests.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([
      `${vmId}/deallocate`,
    ]);
    expect(await rm.powerStateOf('Win10')).toBe('deallocated');
    // A retried create finds its VM and leaves it deallocated.
    await rm.createMasterVm('Win10', 'Win10');
    expect(await rm.powerStateOf('Win10')).toBe('deallocated');
    expect(arm.resourceIds()).toEqual(
      [diskId, imageId, vmId, `${group}/providers/Microsoft.Network/networkInterfaces/Win10-nic`].sort(),
    );

    // The disk is the VM's while it exists: ARM refuses, and the refusal is named.
    await expect(rm.delete('disk', 'Win10')).rejects.toThrow(
      new AzureResourceManagerError(
        `Resource Manager refused to delete disk 'Win10': OperationNotAllowed: Disk Win10 is attached to VM ${vmId}.`,
      ),
    );
    for (const kind of ['virtualMachine', 'image', 'disk'] as const) await rm.delete(kind, 'Win10');
    expect(arm.resourceIds()).toEqual([]);
    // Deleting what is gone succeeds: compensations may run twice.
    await rm.delete('virtualMachine', 'Win10');
  }, 120_000);

  it('names a create that Azure failed, and a blob that is not a VHD', async () => {
    const azure = connector();
    const rm = azure.resourceManager();
    const source = await makeSourceDisk(dir);
    await azure.uploadVhd(source, 'mbr.vhd');
    await rm.createDiskFromBlob('Failing', azure.blobUrl('mbr.vhd'), 'V1');
    arm.failNextCreate(
      'virtualMachines',
      'AllocationFailed',
      'Allocation failed. We do not have sufficient capacity.',
    );
    await expect(rm.createMasterVm('Failing', 'Failing')).rejects.toThrow(
      "Azure could not create virtual machine 'Failing': AllocationFailed: Allocation failed.",
    );
    // ARM keeps a VM whose create failed (state Failed): the compensation must delete it.
    expect(arm.resource(rm.idOf('virtualMachine', 'Failing'))?.properties).toMatchObject({
      provisioningState: 'Failed',
    });
    for (const kind of ['virtualMachine', 'disk'] as const) await rm.delete(kind, 'Failing');

    await serviceClient(azurite)
      .getContainerClient('images')
      .getBlockBlobClient('not-a-vhd.vhd')
      .upload('x', 1);
    await expect(rm.createDiskFromBlob('NotVhd', azure.blobUrl('not-a-vhd.vhd'), 'V1')).rejects.toThrow(
      /refused to create managed disk 'NotVhd': InvalidParameter: .*not a supported VHD/,
    );
    expect(arm.resourceIds()).toEqual([]);
    expect(fs.existsSync(source)).toBe(true);
  }, 120_000);
});

describe('Compositing Engine VMs', () => {
  it("refuses a launch environment larger than Azure keeps as custom data, naming the CA's share, before any request", async () => {
    // A bundle of many CAs, as some organisations keep them: the engine carries it in its custom data.
    const certificate = arm.certificate;
    const bundle = certificate.repeat(Math.ceil(70_000 / certificate.length));
    const requests = arm.requests.length;
    const launch = connector({
      ceImageId: `${SUBNET_PARENT}/images/lamina-ce`,
      caCertificate: bundle,
    }).ce.createEngine({
      id: '5d1f7c0e-0000-4000-8000-000000000001',
      name: 'lamina-ce-5d1f7c0e',
      environment: { LAMINA_CE_ID: '5d1f7c0e-0000-4000-8000-000000000001' },
    });
    await expect(launch).rejects.toThrow(
      new RegExp(
        `launch environment is \\d+ bytes, more than the 65535 Azure keeps as a VM's custom data; the ` +
          `connector's caCertificate takes ${bundle.length} of them`,
      ),
    );
    expect(arm.requests.length).toBe(requests);
    expect(arm.resourceIds()).toEqual([]);
  });
});
