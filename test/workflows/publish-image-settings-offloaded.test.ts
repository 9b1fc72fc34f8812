import path from 'node:path';
import type { PublishImageResult } from '../../workflows/publish-image';
import { cutPartition, hiveExport, toRaw } from '../compositor/tools';
import { mountedDir, testDir } from '../harness';
import { offloadEnvironment, storagePool } from '../offload/helpers';
import {
  builtLayer,
  completed,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

/**
 * The template's elastic layering and user-layer options reach an offloaded image too: the local
 * connector with Offload Compositing on composes in a Compositing Engine (a `lamina ce` process reading
 * the layers over iSCSI from a real tgtd), which gets the settings with its compose.
 */
describe("an offloaded publish writes the template's image settings", () => {
  let app: Appliance;

  beforeAll(async () => {
    app = await startAppliance({ env: await offloadEnvironment() });
  }, 120_000);
  afterAll(() => app?.stop());

  it('into the master image the engine composed: Session Office 365 user layers, the share, no Windows Search change', async () => {
    const os = await importedOs(app.api, await goldImage());
    const appVersion = (
      await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'offloaded' })
    ).versionId;
    expect(
      (await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: true })).status,
    ).toBe(200);
    expect(
      (
        await app.api.post('/api/system-settings/elastic-shares', {
          name: 'Elastic',
          sharePath: '\\\\files\\elastic',
          mountPoint: mountedDir('elastic-share'),
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await app.api.post('/api/storage-locations', {
          name: 'Everyone',
          sharePath: '\\\\files\\users',
          priority: 1,
        })
      ).status,
    ).toBe(201);
    const templateId = await template(app.api, {
      name: 'Offloaded',
      osVersionId: os.versionId,
      appVersionIds: [appVersion],
      connectorId: LOCAL_CONNECTOR,
    });
    expect(
      (
        await app.api.patch(`/api/templates/${templateId}`, {
          elasticLayering: 'app',
          userLayer: 'session_office365',
        })
      ).status,
    ).toBe(200);

    const result = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${templateId}/publish`),
    );
    const masterDisk = path.join(
      storagePool(app),
      'vms',
      result.vm!.id,
      'snapshots',
      result.name,
      'boot.vhdx',
    );
    const dir = testDir('offloaded-settings');
    // UEFI: the ESP, the MSR, then Windows.
    const windows = cutPartition(toRaw(masterDisk, path.join(dir, 'image.raw')), 2, path.join(dir, 'w.ntfs'));
    const ulayer = hiveExport(windows, 'SOFTWARE', '\\Unidesk\\ULayer', dir);
    expect(ulayer).toContain('"RepositoryPath"=str(1):"\\\\files\\elastic"');
    expect(ulayer).toContain('"UserLayerMode"=str(1):"SessionOffice365"');
    expect(ulayer).toContain(
      '[\\Unidesk\\ULayer\\StorageLocations\\001]\n"Groups"=hex(7):00,00,00,00\n"Path"=str(1):"\\\\files\\users"',
    );
    // Only Full user layers keep the search index: Windows Search is left as the OS layer has it.
    expect(() => hiveExport(windows, 'SYSTEM', '\\ControlSet001\\Services\\WSearch', dir)).toThrow();
  }, 600_000);
});
