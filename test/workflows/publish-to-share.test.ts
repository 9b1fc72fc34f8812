import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { makeGoldImage } from '../../compositor/gold-image';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import type { PublishImageResult } from '../../workflows/publish-image';
import { expectWorkerFailures, importDir } from '../harness';
import {
  attemptsOf,
  builtLayer,
  catFromImage,
  completed,
  createLayer,
  fileshareConnector,
  filesUnder,
  finished,
  GiB,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  run,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

describe('OS import, layer-as-code and publishing to a file share, through the API', () => {
  let app: Appliance;
  let os: { layerId: string; versionId: string };
  let appA: { versionId: string };
  let appB: { versionId: string };
  let platform: { versionId: string };
  let share: { id: string; mountPoint: string };

  beforeAll(async () => {
    app = await startAppliance();
    os = await importedOs(app.api, await goldImage());
    appA = await builtLayer(
      app.api,
      'app',
      'App A',
      os.layerId,
      { 'Program Files\\Shared\\config.txt': 'from A' },
      { Demo: 'Owner=A' },
    );
    appB = await builtLayer(
      app.api,
      'app',
      'App B',
      os.layerId,
      { 'Program Files\\Shared\\config.txt': 'from B' },
      { Demo: 'Owner=B' },
    );
    platform = await builtLayer(app.api, 'platform', 'Platform', os.layerId, {
      'Program Files\\Platform\\vda.txt': 'platform',
    });
    share = await fileshareConnector(app.api, {
      postPublishScript:
        'echo "$LAMINA_IMAGE_NAME|$LAMINA_TEMPLATE_NAME|$LAMINA_CONNECTOR_TYPE|$LAMINA_IMAGE_PATH"',
    });
  }, 300_000);
  afterAll(() => app?.stop());

  it('records OS and app layer versions as Deployable, with their disks in the repository', async () => {
    const { rows } = await app.stack.pool.query(
      `SELECT v.state, v.disk_path AS "diskPath", v.sha256, l.type FROM layer_versions v JOIN layers l ON l.id = v.layer_id ORDER BY v.creation_seq`,
    );
    expect(rows.map((r) => [r.type, r.state])).toEqual([
      ['os', 'Deployable'],
      ['app', 'Deployable'],
      ['app', 'Deployable'],
      ['platform', 'Deployable'],
    ]);
    for (const row of rows) {
      expect(row.diskPath.startsWith(app.config.repositoryDir)).toBe(true);
      const { stdout } = await run('qemu-img', ['info', '--output=json', row.diskPath]);
      expect(JSON.parse(stdout).format).toBe('vhdx');
    }
  });

  it("imports an OS layer version from a local VM's disk", async () => {
    const host = new LocalVmHost(path.join(app.config.dataDir, 'pool'));
    await host.uploadDisk('gold', await goldImage());
    await host.createVm({
      id: 'gold-vm',
      name: 'Gold',
      cpus: 2,
      memoryMiB: 4096,
      disks: [{ name: 'boot', from: 'gold' }],
      tags: {},
    });
    const layerId = await createLayer(app.api, 'os', 'Windows Server');
    const result = await completed<{ diskPath: string; sha256: string }>(
      app.api,
      await app.api.post(`/api/layers/${layerId}/versions/import`, {
        version: '2022',
        source: { connectorId: LOCAL_CONNECTOR, vmId: 'gold-vm' },
      }),
    );
    expect(await catFromImage(result.diskPath, '\\.lamina\\layer.json')).toMatch(/"type": "os"/);
  }, 120_000);

  it('publishes a UEFI VHDX named after the template, with hash, conflict report and post-publish script', async () => {
    const templateId = await template(app.api, {
      name: 'Finance',
      osVersionId: os.versionId,
      appVersionIds: [appB.versionId, appA.versionId],
      platformVersionId: platform.versionId,
      connectorId: share.id,
    });
    const result = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${templateId}/publish`),
    );

    expect(result.name).toMatch(/^Finance_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/);
    expect(result.location).toBe(`\\\\files\\images\\${result.name}.vhdx`);
    const file = path.join(share.mountPoint, `${result.name}.vhdx`);
    const { stdout } = await run('sha256sum', [file]);
    expect(stdout.split(' ')[0]).toBe(result.sha256);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', file])).stdout);
    expect(info).toMatchObject({ format: 'vhdx', 'virtual-size': 2 * 2 ** 30 });

    // App B was created after App A: it wins the file and the registry value, whatever the template's order.
    expect(await catFromImage(file, '\\Program Files\\Shared\\config.txt')).toBe('from B');
    expect(await catFromImage(file, '\\Program Files\\Platform\\vda.txt')).toBe('platform');
    expect(result.conflicts).toMatchObject({ files: 1, registry: 1 });
    expect(result.conflicts.summary.join('\n')).toMatch(/config\.txt: App B over App A/);

    const { rows } = await app.stack.pool.query(
      `SELECT name, output_location AS location, sha256, conflict_report AS report, template_snapshot AS snapshot,
              post_publish AS post FROM published_images`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: result.name, location: result.location, sha256: result.sha256 });
    expect(rows[0].report.files).toEqual([expect.objectContaining({ winner: 'App B', losers: ['App A'] })]);
    expect(rows[0].snapshot).toMatchObject({ name: 'Finance', firmware: 'UEFI', diskFormat: 'VHDX' });
    const postPublish = { ran: true, exitCode: 0, output: `${result.name}|Finance|fileshare|${file}\n` };
    expect(result.postPublish).toEqual(postPublish);
    expect(rows[0].post).toEqual(postPublish);

    // Only the image is on the share; the scratch folder is gone; the full report is in the repository by id.
    expect(filesUnder(share.mountPoint)).toEqual([`${result.name}.vhdx`]);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expect(filesUnder(path.join(app.config.repositoryDir, 'reports'))).toEqual([`${result.imageId}.json`]);
  }, 300_000);

  it('refuses to publish a template whose layer versions are not Deployable', async () => {
    const templateId = await template(app.api, {
      name: 'Broken',
      osVersionId: os.versionId,
      appVersionIds: [appA.versionId],
      connectorId: share.id,
    });
    await app.stack.pool.query(`UPDATE layer_versions SET state = 'Failed' WHERE id = $1`, [appA.versionId]);
    const refused = await app.api.post(`/api/templates/${templateId}/publish`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/layer 'App A' version 1 is Failed, not Deployable/);
    await app.stack.pool.query(`UPDATE layer_versions SET state = 'Deployable' WHERE id = $1`, [
      appA.versionId,
    ]);
    // A template that does not exist is a 404, told apart from one that cannot publish by its error's type.
    const missing = await app.api.post(`/api/templates/${randomUUID()}/publish`);
    expect(missing.status).toBe(404);
  });

  it('fails a publish whose image is too small for its layers at the first compose attempt, naming the cause', async () => {
    // A BIOS disk's Windows partition fills the disk; a UEFI disk of the same size also holds ESP and MSR.
    const biosGold = path.join(importDir('gold-bios'), 'gold.vhdx');
    await makeGoldImage({ out: biosGold, firmware: 'bios', size: GiB, format: 'vhdx' });
    const biosOs = await importedOs(app.api, biosGold, 'Windows BIOS');
    const tooSmall = {
      name: 'Too small',
      osVersionId: biosOs.versionId,
      connectorId: share.id,
      diskSizeGb: 1,
    };
    // The OS version's volume size is known: the template is refused when saved.
    const refused = await app.api.post('/api/templates', {
      ...tooSmall,
      diskFormat: 'VHDX',
      firmware: 'UEFI',
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([
      {
        field: 'body.diskSizeGb',
        message: expect.stringMatching(
          /^the OS layer's volume is \d+ MiB, larger than the \d+ MiB Windows partition/,
        ),
      },
    ]);
    // An OS version made before volume sizes were recorded (migration 013) is checked by compose.
    await app.stack.pool.query('UPDATE layer_versions SET volume_bytes = NULL WHERE id = $1', [
      biosOs.versionId,
    ]);
    const templateId = await template(app.api, tooSmall);
    const onShare = filesUnder(share.mountPoint);
    const task = await finished(app.api, await app.api.post(`/api/templates/${templateId}/publish`));

    expect(task.state).toBe('failed');
    expect(task.error).toMatch(/the Windows partition would be \d+ MiB, smaller than the OS layer's volume/);
    expect(await attemptsOf(app, task.id, 'composeImage')).toBe(1);
    expectWorkerFailures(
      { kind: 'activity', type: 'composeImage', error: /smaller than the OS layer's volume/ },
      { kind: 'workflow', type: 'publishImage', error: /smaller than the OS layer's volume/ },
    );
    const history = await app.stack.client.workflow.getHandle(task.id).fetchHistory();
    const failures = (history.events ?? []).flatMap(
      (e) => e.activityTaskFailedEventAttributes?.failure ?? [],
    );
    expect(failures).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/smaller than the OS layer's volume/),
        applicationFailureInfo: expect.objectContaining({ type: 'ComposeError', nonRetryable: true }),
      }),
    ]);
    // Nothing of the task is left: no image on the share, no scratch folder.
    expect(filesUnder(share.mountPoint)).toEqual(onShare);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expect(filesUnder(path.join(app.config.repositoryDir, 'reports'))).toHaveLength(1);
  }, 300_000);
});
