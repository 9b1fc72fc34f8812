import fs from 'node:fs';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import type { Task } from '../../api/tasks/task-service';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import type { ArmFake } from '../azure/arm-fake';
import { armFakeFor, armSettings, ARM_SECRET } from '../azure/arm-fixtures';
import { azuriteConnectorThroughApi, azuriteSettings, serviceClient } from '../azure/fixtures';
import { CuttingProxy } from '../vsphere/fixtures';
import { fileshareConnector, filesUnder, startAppliance, type Appliance } from '../workflows/fixtures';
import { makeVmwareWindowsDisk } from './fixtures';

const MIB = 2 ** 20;

/**
 * A stopped Image Portability run (POST /api/tasks/:id/stop) in the middle of its upload to Azure: storage
 * is Azurite behind a proxy that slows the link, so the stop lands while pages are being sent; Resource
 * Manager is the recorded-contract fake (nothing is made there before the upload ends, and nothing is).
 * What it cannot show: a stop while Azure itself is creating a resource (the fake answers at once).
 */
describe('a run stopped during its upload to Azure', () => {
  let app: Appliance;
  let azurite: Azurite;
  let arm: ArmFake;
  let proxy: CuttingProxy;
  let share: { id: string; mountPoint: string };
  let azureId: string;

  beforeAll(async () => {
    azurite = await startAzurite();
    await serviceClient(azurite).getContainerClient('images').create();
    arm = await armFakeFor(azurite);
    proxy = await CuttingProxy.start(azurite.port);
    app = await startAppliance();
    share = await fileshareConnector(app.api);
    azureId = await azuriteConnectorThroughApi(app.api, azurite, 'Azure behind a slow link', {
      settings: {
        ...armSettings(arm),
        blobEndpoint: `http://127.0.0.1:${proxy.port}/${azurite.accountName}`,
      },
      clientSecret: ARM_SECRET,
    });
    await makeVmwareWindowsDisk(share.mountPoint, 'gold.vhdx');
  }, 300_000);

  afterAll(async () => {
    await app?.stop();
    await proxy?.stop();
    await arm?.stop();
    await azurite?.stop();
  });

  it('ends cancelled, with the blob, the prepared disk and every Azure resource removed', async () => {
    const before = fs.readdirSync(share.mountPoint).sort();
    proxy.limitUpstream(2 * MIB);
    const started = await app.api.post('/api/ips/run', {
      sourceProvisioning: 'PVS',
      targetProvisioning: 'MCS',
      shareConnectorId: share.id,
      sourceDisk: 'gold.vhdx',
      targetConnectorId: azureId,
      name: 'Stopped',
    });
    expect(started.status).toBe(202);
    // Mid-upload: pages are crossing the link (the run prepared the disk first).
    while (proxy.upstreamBytes < 4 * MIB) await new Promise((r) => setTimeout(r, 50));
    const azure = new AzureConnector(azuriteSettings(azurite), {
      clientSecret: 'x',
      storageKey: azurite.accountKey,
    });
    expect(await azure.listBlobs('Stopped')).toEqual(['Stopped.vhd']);
    expect(fs.readdirSync(share.mountPoint)).toContain('Stopped-prepared.vhdx');

    const stop = await app.api.post(`/api/tasks/${started.body.id}/stop`, {});
    expect(stop.status).toBe(200);
    proxy.limitUpstream(Infinity);
    let task: Task;
    do task = (await app.api.get(`/api/tasks/${started.body.id}/wait?timeout=30`)).body as Task;
    while (task.state === 'running');

    expect(task.state).toBe('cancelled');
    expect(await azure.listBlobs('Stopped')).toEqual([]);
    expect(fs.readdirSync(share.mountPoint).sort()).toEqual(before);
    expect(arm.resourceIds()).toEqual([]);
    expect(arm.requests.filter((r) => r.method === 'PUT')).toEqual([]);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
  }, 600_000);
});
