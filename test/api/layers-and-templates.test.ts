import type { Stack } from '../../runtime/stack';
import { createTestDatabase, startTestStack, testConfig, type TestDatabase } from '../harness';
import { administratorClient, type ApiClient } from '../api-client';

describe('layers, versions, image templates, storage locations and elastic assignments', () => {
  let db: TestDatabase;
  let stack: Stack;
  let api: ApiClient;
  let vsphereId: string;
  let localId: string;

  /**
   * Versions become Deployable through tasks; here the test plays the task. An OS version's volume is
   * `volumeGb`; its (dynamic) layer disk file holds a quarter of that.
   */
  const deployable = async (layerId: string, version: string, volumeGb = 20) => {
    const created = await api.post(`/api/layers/${layerId}/versions`, { version });
    expect(created.status).toBe(201);
    await stack.pool.query(
      `UPDATE layer_versions SET state = 'Deployable', size_bytes = $2, volume_bytes = $3 WHERE id = $1`,
      [created.body.id, (volumeGb * 1024 ** 3) / 4, volumeGb * 1024 ** 3],
    );
    return created.body.id as string;
  };
  const layer = async (type: string, name: string, osLayerId?: string) => {
    const created = await api.post('/api/layers', { type, name, osLayerId });
    expect(created.status).toBe(201);
    return created.body.id as string;
  };

  let os: string;
  let osV1: string;
  let otherOsV1: string;
  let platformV1: string;
  let officeV1: string;
  let officeV2: string;
  let chromeV1: string;
  let foreignAppV1: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    stack = await startTestStack(testConfig(db.url), { worker: false });
    api = await administratorClient(stack);
    vsphereId = (
      await api.post('/api/connectors', {
        type: 'vsphere',
        name: 'vSphere',
        settings: { vcenter: 'vc', user: 'u', datacenter: 'd', host: 'h', datastore: 'ds', network: 'n' },
        secrets: { password: 'p' },
      })
    ).body.id;
    localId = (await api.get('/api/connectors?type=local')).body.items[0].id;

    os = await layer('os', 'Windows 11 23H2');
    osV1 = await deployable(os, '2024-01');
    const otherOs = await layer('os', 'Windows Server 2022');
    otherOsV1 = await deployable(otherOs, '1');
    platformV1 = await deployable(await layer('platform', 'Citrix VDA', os), '2402');
    const office = await layer('app', 'Office 365', os);
    officeV1 = await deployable(office, '1');
    officeV2 = await deployable(office, '2');
    chromeV1 = await deployable(await layer('app', 'Chrome', os), '120');
    foreignAppV1 = await deployable(await layer('app', 'Server tool', otherOs), '1');
  });
  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
  });

  const template = (overrides: Record<string, unknown> = {}) => ({
    name: 'Sales desktops',
    osVersionId: osV1,
    platformVersionId: platformV1,
    appVersionIds: [chromeV1, officeV1],
    connectorId: vsphereId,
    diskSizeGb: 60,
    diskFormat: 'VMDK',
    firmware: 'UEFI',
    ...overrides,
  });

  it('lists layers with filters and paging, and versions in creation order', async () => {
    const apps = await api.get('/api/layers?type=app&pageSize=2&page=1');
    expect(apps.body).toMatchObject({ page: 1, pageSize: 2, total: 3 });
    expect(apps.body.items.map((l: { name: string }) => l.name)).toEqual(['Chrome', 'Office 365']);
    const page2 = await api.get('/api/layers?type=app&pageSize=2&page=2');
    expect(page2.body.items.map((l: { name: string }) => l.name)).toEqual(['Server tool']);
    expect((await api.get('/api/layers?type=app&pageSize=2&page=9')).body).toMatchObject({
      items: [],
      total: 3,
    });
    expect((await api.get('/api/layers?name=%25')).body.total).toBe(0); // LIKE wildcards are literal
    const office = (await api.get('/api/layers?name=office')).body.items[0];
    expect(office).toMatchObject({ type: 'app', osLayerName: 'Windows 11 23H2', versionCount: 2 });
    const versions = await api.get(`/api/layers/${office.id}/versions`);
    expect(versions.body.items.map((v: { version: string }) => v.version)).toEqual(['1', '2']);
    expect(versions.body.items[0].creationSequence).toBeLessThan(versions.body.items[1].creationSequence);
    const bad = await api.get('/api/layers?type=driver&pageSize=1000');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([
      'query.pageSize',
      'query.type',
    ]);
  });

  it('binds app and platform layers to an OS layer and edits names', async () => {
    const unbound = await api.post('/api/layers', { type: 'app', name: 'Unbound' });
    expect(unbound.body.errors).toEqual([
      {
        field: 'body.osLayerId',
        message: 'required for app and platform layers, not allowed for an OS layer',
      },
    ]);
    const wrongOs = await api.post('/api/layers', { type: 'app', name: 'X', osLayerId: chromeV1 });
    expect(wrongOs.body.errors).toEqual([{ field: 'body.osLayerId', message: 'no OS layer has this id' }]);
    const edited = await api.patch(`/api/layers/${os}`, { description: 'Gold image' });
    expect(edited.body).toMatchObject({ name: 'Windows 11 23H2', description: 'Gold image' });
  });

  it('creates a valid template and answers with it', async () => {
    const created = await api.post('/api/templates', template());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Sales desktops',
      appVersionIds: [officeV1, chromeV1], // priority: creation order, not request order
      elasticLayering: 'none',
      userLayer: 'none',
      sysprep: 'generalize',
    });
  });

  it('validates layers: existence, Deployable, kind, shared OS layer, one version per app layer', async () => {
    const creating = (await api.post(`/api/layers/${os}/versions`, { version: 'in progress' })).body.id;
    const response = await api.post(
      '/api/templates',
      template({
        name: 'Broken',
        osVersionId: creating,
        platformVersionId: officeV1,
        appVersionIds: [officeV1, officeV2, foreignAppV1, '00000000-0000-4000-8000-000000000000'],
      }),
    );
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'body.osVersionId', message: 'Windows 11 23H2 in progress is Creating, not Deployable' },
      { field: 'body.platformVersionId', message: 'Office 365 1 is a version of an app layer, not platform' },
      {
        field: 'body.appVersionIds.1',
        message: 'Office 365 is already in the template with another version',
      },
      { field: 'body.appVersionIds.2', message: 'Server tool is bound to another OS layer' },
      { field: 'body.appVersionIds.3', message: 'no layer version has this id' },
    ]);
    const otherOs = await api.post('/api/templates', template({ name: 'Other OS', osVersionId: otherOsV1 }));
    expect(otherOs.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'body.platformVersionId',
      'body.appVersionIds.0',
      'body.appVersionIds.1',
    ]);
  });

  it('checks that size, format and firmware fit the connector', async () => {
    const vhdOnVsphere = await api.post('/api/templates', template({ name: 'T1', diskFormat: 'VHD' }));
    expect(vhdOnVsphere.body.errors).toEqual([
      { field: 'body.diskFormat', message: "connector 'vSphere' (VMware vSphere) takes VMDK disks, not VHD" },
    ]);
    // The OS volume (20 GiB) is what must fit, not its layer disk file (5 GiB).
    const tooSmall = await api.post('/api/templates', template({ name: 'T2', diskSizeGb: 10 }));
    expect(tooSmall.body.errors).toEqual([
      {
        field: 'body.diskSizeGb',
        message:
          "the OS layer's volume is 20480 MiB, larger than the 9962 MiB Windows partition of a 10 GB UEFI disk: it needs at least 21 GB",
      },
    ]);
    const justFits = await api.post('/api/templates', template({ name: 'T2', diskSizeGb: 21 }));
    expect(justFits.status).toBe(201);
    expect((await api.delete(`/api/templates/${justFits.body.id}`)).status).toBe(204);
    const justShort = await api.post('/api/templates', template({ name: 'T2b', diskSizeGb: 20 }));
    expect(justShort.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.diskSizeGb']);
    const hyperv = await api.post('/api/connectors', {
      type: 'hyperv',
      name: 'Hyper-V',
      settings: { host: 'hv1', user: 'EXAMPLE\\svc', storagePath: 'D:\\Lamina', virtualSwitch: 'LAN' },
    });
    const gen2OnVhd = await api.post(
      '/api/templates',
      template({ name: 'T3', connectorId: hyperv.body.id, diskFormat: 'VHD', diskSizeGb: 3000 }),
    );
    expect(gen2OnVhd.body.errors).toEqual([
      { field: 'body.diskSizeGb', message: 'VHD disks hold at most 2040 GB' },
      {
        field: 'body.firmware',
        message: "connector 'Hyper-V' (Microsoft Hyper-V) boots VHD disks with BIOS only",
      },
    ]);
    const local = await api.post(
      '/api/templates',
      template({ name: 'T4', connectorId: localId, diskFormat: 'VHDX', appVersionIds: [chromeV1] }),
    );
    expect(local.status).toBe(201);
  });

  it('edits (validated as a whole) and clones templates; deleting a used layer or version is refused', async () => {
    const { body: sales } = await api.get('/api/templates?name=Sales');
    const id = sales.items[0].id;
    const edited = await api.patch(`/api/templates/${id}`, { appVersionIds: [officeV2] });
    expect(edited.body).toMatchObject({ appVersionIds: [officeV2], diskSizeGb: 60, sysprep: 'generalize' });
    const invalid = await api.patch(`/api/templates/${id}`, { diskFormat: 'VHDX' });
    expect(invalid.status).toBe(400);
    const clone = await api.post(`/api/templates/${id}/clone`, { name: 'Sales desktops (copy)' });
    expect(clone.status).toBe(201);
    expect(clone.body).toMatchObject({ appVersionIds: [officeV2], connectorId: vsphereId });
    expect(clone.body.id).not.toBe(id);

    const office = (await api.get('/api/layers?name=Office')).body.items[0];
    const refusedLayer = await api.delete(`/api/layers/${office.id}`);
    expect(refusedLayer.status).toBe(409);
    expect(refusedLayer.body.usedBy['image template']).toEqual(['Sales desktops', 'Sales desktops (copy)']);
    const refusedOs = await api.delete(`/api/layers/${os}`);
    expect(refusedOs.body.usedBy['layer bound to it']).toEqual(['Chrome', 'Citrix VDA', 'Office 365']);
    const refusedVersion = await api.delete(`/api/layers/${office.id}/versions/${officeV2}`);
    expect(refusedVersion.status).toBe(409);
    expect((await api.delete(`/api/layers/${office.id}/versions/${officeV1}`)).status).toBe(204);
    expect((await api.get(`/api/layers/${office.id}/versions/${officeV1}`)).body.state).toBe('Deleted');

    const connectorInUse = await api.delete(`/api/connectors/${vsphereId}`);
    expect(connectorInUse.status).toBe(409);
    expect(connectorInUse.body.usedBy['image template']).toEqual(['Sales desktops', 'Sales desktops (copy)']);
    expect((await api.delete(`/api/templates/${clone.body.id}`)).status).toBe(204);
    expect((await api.get(`/api/templates/${clone.body.id}`)).status).toBe(404);
  });

  it('keeps storage locations and elastic assignments, validating what they refer to', async () => {
    // Groups are looked up in the directory when a location is saved (test/elastic/user-layer.test.ts,
    // against slapd); this stack has no junction, so a location for a group is refused.
    const forGroup = await api.post('/api/storage-locations', {
      name: 'Sales profiles',
      sharePath: '\\\\files\\userlayers',
      adGroups: ['CN=Sales,OU=Groups,DC=example,DC=com'],
      priority: 10,
    });
    expect(forGroup.status).toBe(422);
    expect(forGroup.body.errors).toEqual([
      {
        field: 'body.adGroups',
        message: "no directory junction holds the DN 'CN=Sales,OU=Groups,DC=example,DC=com'",
      },
    ]);
    const location = await api.post('/api/storage-locations', {
      name: 'Sales profiles',
      sharePath: '\\\\files\\userlayers',
      priority: 10,
    });
    expect(location.status).toBe(201);
    const badShare = await api.post('/api/storage-locations', {
      name: 'x',
      sharePath: 'C:\\share',
      priority: 11,
    });
    expect(badShare.body.errors.map((e: { field: string }) => e.field)).toEqual(['body.sharePath']);
    const samePriority = await api.post('/api/storage-locations', {
      name: 'y',
      sharePath: '\\\\a\\b',
      priority: 10,
    });
    expect(samePriority.status).toBe(409);
    expect((await api.get('/api/storage-locations?name=Sales')).body.total).toBe(1);

    // Users and groups are resolved to SIDs through a directory junction (test/elastic covers that against
    // slapd); this stack has none, so a group is refused and machine patterns carry the assignment.
    const unresolvable = await api.post('/api/elastic-assignments', {
      layerVersionId: chromeV1,
      groups: ['CN=Sales,OU=Groups,DC=example,DC=com'],
    });
    expect(unresolvable.status).toBe(422);
    expect(unresolvable.body.errors[0].field).toBe('body.users');
    const assignment = await api.post('/api/elastic-assignments', {
      layerVersionId: chromeV1,
      machinePatterns: ['SALES-*'],
    });
    expect(assignment.status).toBe(201);
    const osAssignment = await api.post('/api/elastic-assignments', {
      layerVersionId: osV1,
      machinePatterns: ['SALES-*'],
    });
    expect(osAssignment.body.errors).toEqual([
      { field: 'body.layerVersionId', message: 'only app layers are elastic' },
    ]);
    const empty = await api.patch(`/api/elastic-assignments/${assignment.body.id}`, {
      machinePatterns: [],
    });
    expect(empty.body.errors).toEqual([
      { field: 'body.users', message: 'assign to at least one user, group or machine pattern' },
    ]);
    const edited = await api.patch(`/api/elastic-assignments/${assignment.body.id}`, {
      machinePatterns: ['SALES-*', 'KIOSK-??'],
    });
    expect(edited.body).toMatchObject({ machinePatterns: ['SALES-*', 'KIOSK-??'] });
    const chrome = (await api.get('/api/layers?name=Chrome')).body.items[0];
    const refused = await api.delete(`/api/layers/${chrome.id}/versions/${chromeV1}`);
    expect(refused.body.usedBy['elastic assignment']).toEqual([assignment.body.id]);
  });

  it('lists published images (records written by the publish task)', async () => {
    await stack.pool.query(
      `INSERT INTO published_images (id, name, template_snapshot, layer_versions, output_location)
       VALUES (gen_random_uuid(), 'Sales desktops 2026-11-22 0100', '{"name":"Sales desktops"}', '[]', '[ds] images/x.vmdk')`,
    );
    const images = await api.get('/api/images?name=Sales');
    expect(images.body.items[0]).toMatchObject({
      template: { name: 'Sales desktops' },
      outputLocation: '[ds] images/x.vmdk',
    });
    expect((await api.get(`/api/images/${images.body.items[0].id}`)).status).toBe(200);
  });
  it('saves a template whose layers were made on another version of its OS layer, with warnings', async () => {
    const osV2 = await deployable(os, '2025-01');
    // What the packaging tasks record: the OS version each version was made on.
    const madeOn = (version: string, osVersion: string) =>
      stack.pool.query('UPDATE layer_versions SET os_version_id = $2 WHERE id = $1', [version, osVersion]);
    await madeOn(platformV1, osV1);
    await madeOn(chromeV1, osV1);
    await madeOn(officeV2, osV2);
    const updated = await api.post(
      '/api/templates',
      template({ name: 'Updated desktops', osVersionId: osV2, appVersionIds: [chromeV1, officeV2] }),
    );
    expect(updated.status).toBe(201);
    expect(updated.body.warnings).toEqual([
      {
        field: 'body.platformVersionId',
        message:
          "Citrix VDA 2402 was made on an older version of Windows 11 23H2 (2024-01) than the template's 2025-01: update the platform layer on this OS version (add a version to it) before publishing to production",
      },
      {
        field: 'body.appVersionIds.0',
        message:
          "Chrome 120 was made on an older version of Windows 11 23H2 (2024-01) than the template's 2025-01: it composes with any version of its OS layer; test the image, and add a version to the app layer if it misbehaves",
      },
    ]);
    // The other way round: a layer made on a newer OS version than the template's.
    const older = await api.patch(`/api/templates/${updated.body.id}`, { osVersionId: osV1 });
    expect(older.status).toBe(200);
    expect(older.body.warnings).toEqual([
      {
        field: 'body.appVersionIds.0',
        message: expect.stringMatching(
          /^Office 365 2 was made on a newer version of Windows 11 23H2 \(2025-01\)/,
        ),
      },
    ]);
    expect((await api.get(`/api/templates/${older.body.id}`)).body.warnings).toHaveLength(1);
    // What the version list shows of it.
    const versions = (
      await api.get(`/api/layers/${(await api.get('/api/layers?name=Chrome')).body.items[0].id}/versions`)
    ).body.items;
    expect(versions[0]).toMatchObject({
      osVersionId: osV1,
      basedOnVersionId: null,
      elasticFit: null,
      elasticFitReasons: [],
      scripts: [],
    });
    expect((await api.delete(`/api/templates/${updated.body.id}`)).status).toBe(204);
  });
});
