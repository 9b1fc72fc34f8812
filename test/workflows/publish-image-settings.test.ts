import fs from 'node:fs';
import path from 'node:path';
import type { PublishImageResult } from '../../workflows/publish-image';
import { cutPartition, hiveExport, toRaw } from '../compositor/tools';
import { joinDirectory, SIDS, startAdDirectory, type AdDirectory } from '../elastic/ad-directory';
import { mountedDir, testDir } from '../harness';
import {
  builtLayer,
  completed,
  fileshareConnector,
  goldImage,
  importedOs,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

/** A REG_MULTI_SZ's bytes as hivexregedit prints them (hex(7)). */
const multiSzHex = (values: string[]) =>
  [...Buffer.from(`${values.join('\0')}\0\0`, 'utf16le')]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(',');

/**
 * The test-only key the committed replay histories are sealed with (test/histories): this test's
 * publishImage runs are the ones recorded for the path with the template's image settings.
 */
const RECORDING_KEY = fs
  .readFileSync(path.join(__dirname, '..', 'histories', 'recording-key.base64'), 'utf8')
  .trim();

describe("publishing a template's elastic layering and user-layer options into the image (real slapd for the groups)", () => {
  let directory: AdDirectory;
  let app: Appliance;
  let templateId: string;
  let share: { id: string; mountPoint: string };

  beforeAll(async () => {
    directory = await startAdDirectory();
    app = await startAppliance({ env: { LAMINA_MASTER_KEY: RECORDING_KEY } });
    await joinDirectory(app.api, directory);
    const os = await importedOs(app.api, await goldImage());
    const appLayer = await builtLayer(app.api, 'app', 'Office', os.layerId, {
      'Program Files\\Office\\office.txt': 'office',
    });
    share = await fileshareConnector(app.api);
    templateId = await template(app.api, {
      name: 'Desktops',
      osVersionId: os.versionId,
      appVersionIds: [appLayer.versionId],
      connectorId: share.id,
    });
    // App Layering's older option: app layers with user layers, which are Full when the template names none.
    const edited = await app.api.patch(`/api/templates/${templateId}`, { elasticLayering: 'app_and_user' });
    expect(edited.status).toBe(200);
  }, 300_000);
  afterAll(async () => {
    await app?.stop();
    await directory?.stop();
  });

  it('refuses to publish app and user layers, naming what is missing, while there is no elastic layer share or storage location', async () => {
    const refused = await app.api.post(`/api/templates/${templateId}/publish`);
    expect(refused.status).toBe(409);
    expect(refused.body.errors).toEqual([
      { field: 'template', message: 'elastic layering needs an elastic layer share (System > Settings)' },
      {
        field: 'template',
        message: 'user layers need at least one storage location (System > Storage Locations)',
      },
    ]);
  });

  it("writes the share, the user-layer mode and the locations' group SIDs in priority order into the published image", async () => {
    const edited = await app.api.patch(`/api/templates/${templateId}`, {
      elasticLayering: 'app',
      userLayer: 'full',
    });
    expect(edited.status).toBe(200);
    const elastic = await app.api.post('/api/system-settings/elastic-shares', {
      name: 'Elastic',
      sharePath: '\\\\files\\elastic',
      mountPoint: mountedDir('elastic-share'),
    });
    expect(elastic.status).toBe(201);
    for (const [name, sharePath, adGroups, priority] of [
      ['Everyone', '\\\\files\\users', [], 100],
      ['Finance', '\\\\fin\\users', ['cn=finance,ou=groups,dc=example,dc=com'], 20],
      ['IT', '\\\\it\\users', ['EXAMPLE\\it-staff'], 10],
    ] as const) {
      const created = await app.api.post('/api/storage-locations', { name, sharePath, adGroups, priority });
      expect(created.status).toBe(201);
    }

    const result = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${templateId}/publish`),
    );
    const dir = testDir('published-settings');
    const raw = toRaw(path.join(share.mountPoint, `${result.name}.vhdx`), path.join(dir, 'image.raw'));
    // UEFI: the ESP, the MSR, then Windows.
    const windows = cutPartition(raw, 2, path.join(dir, 'windows.ntfs'));

    const ulayer = hiveExport(windows, 'SOFTWARE', '\\Unidesk\\ULayer', dir);
    expect(ulayer).toContain('"RepositoryPath"=str(1):"\\\\files\\elastic"');
    expect(ulayer).toContain('"UserLayerMode"=str(1):"Full"');
    expect(ulayer).toContain('"DefaultUserLayerSizeInGb"=dword:0000000a');
    for (const [index, sharePath, sids] of [
      ['001', '\\\\it\\users', [SIDS.itStaff]],
      ['002', '\\\\fin\\users', [SIDS.finance]],
      ['003', '\\\\files\\users', []],
    ] as const) {
      expect(ulayer).toContain(
        `[\\Unidesk\\ULayer\\StorageLocations\\${index}]\n"Groups"=hex(7):${multiSzHex([...sids])}\n"Path"=str(1):"${sharePath}"`,
      );
    }
    // Full user layers keep the search index: Windows Search boots disabled, the service starts it at logon.
    expect(hiveExport(windows, 'SYSTEM', '\\ControlSet001\\Services\\WSearch', dir)).toContain(
      '"Start"=dword:00000004',
    );
    // The published image keeps the options it was made with.
    const image = await app.api.get(`/api/images/${result.imageId}`);
    expect(image.body.template).toMatchObject({ elasticLayering: 'app', userLayer: 'full' });
  }, 600_000);

  it('lets a template choose Session Office 365 user layers, and refuses a mode there is not', async () => {
    const session = await app.api.patch(`/api/templates/${templateId}`, { userLayer: 'session_office365' });
    expect(session.status).toBe(200);
    expect((await app.api.get(`/api/templates/${templateId}`)).body.userLayer).toBe('session_office365');
    const unknown = await app.api.patch(`/api/templates/${templateId}`, { userLayer: 'roaming' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].field).toBe('body.userLayer');
  });
});
