import fs from 'node:fs';
import path from 'node:path';
import type { PublishImageResult } from '../../workflows/publish-image';
import { expectWorkerFailures, mountedDir } from '../harness';
import {
  builtLayer,
  completed,
  fileshareConnector,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  run,
  startAppliance,
  template,
  type Appliance,
} from '../workflows/fixtures';

interface ManifestEntry {
  versionId: string;
  layerId: string;
  layerName: string;
  type: string;
  osLayerId: string | null;
  creationSequence: number;
  sha256: string;
  sizeBytes: number;
  file: string;
}

const layerRows = async (app: Appliance) =>
  (
    await app.stack.pool.query(
      `SELECT l.id AS "layerId", l.name, l.type, l.os_layer_id AS "osLayerId", v.id AS "versionId", v.state, v.sha256
         FROM layer_versions v JOIN layers l ON l.id = v.layer_id ORDER BY v.creation_seq`,
    )
  ).rows;

describe('layers exported from one appliance and imported into another (two data folders, two APIs)', () => {
  let first: Appliance;
  let second: Appliance;
  let transfer: string;
  const layers = {} as Record<'os' | 'appA' | 'appB' | 'platform', { layerId: string; versionId: string }>;

  const exportTo = (folder: string, versionIds: string[]) =>
    first.api.post('/api/layer-transfers/export', { mountPoint: transfer, folder, versionIds });
  const importFrom = (app: Appliance, folder: string) =>
    app.api.post('/api/layer-transfers/import', { mountPoint: transfer, folder });

  beforeAll(async () => {
    [first, second] = [await startAppliance(), await startAppliance()];
    expect(first.config.dataDir).not.toBe(second.config.dataDir);
    expect(first.stack.apiUrl).not.toBe(second.stack.apiUrl);
    layers.os = await importedOs(first.api, await goldImage());
    layers.appA = await builtLayer(
      first.api,
      'app',
      'App A',
      layers.os.layerId,
      { 'Program Files\\Shared\\config.txt': 'from A' },
      { Demo: 'Owner=A' },
    );
    layers.appB = await builtLayer(
      first.api,
      'app',
      'App B',
      layers.os.layerId,
      { 'Program Files\\Shared\\config.txt': 'from B' },
      { Demo: 'Owner=B' },
    );
    layers.platform = await builtLayer(first.api, 'platform', 'Platform', layers.os.layerId, {
      'Program Files\\Platform\\vda.txt': 'platform',
    });
    transfer = mountedDir('transfer');
  }, 600_000);
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
  });

  it('exports OS first, then in creation order, with a manifest whose hashes match the files', async () => {
    const result = await completed<{ transferred: string[] }>(
      first.api,
      await exportTo('dr', [
        layers.platform.versionId,
        layers.appB.versionId,
        layers.os.versionId,
        layers.appA.versionId,
      ]),
    );
    expect(result.transferred).toEqual([
      "layer 'Windows 11' version 1",
      "layer 'App A' version 1",
      "layer 'App B' version 1",
      "layer 'Platform' version 1",
    ]);
    const manifest = JSON.parse(fs.readFileSync(path.join(transfer, 'dr', 'manifest.json'), 'utf8'));
    const entries = manifest.versions as ManifestEntry[];
    expect(entries.map((e) => [e.layerName, e.type, e.osLayerId])).toEqual([
      ['Windows 11', 'os', null],
      ['App A', 'app', layers.os.layerId],
      ['App B', 'app', layers.os.layerId],
      ['Platform', 'platform', layers.os.layerId],
    ]);
    expect(entries.map((e) => e.creationSequence)).toEqual(
      [...entries.map((e) => e.creationSequence)].sort((a, b) => a - b),
    );
    for (const entry of entries) {
      const file = path.join(transfer, 'dr', entry.file);
      expect((await run('sha256sum', [file])).stdout.split(' ')[0]).toBe(entry.sha256);
      expect(fs.statSync(file).size).toBe(entry.sizeBytes);
    }
    expect(filesUnder(path.join(transfer, 'dr'))).toHaveLength(5);
  }, 300_000);

  it('refuses an export whose manifest names a wrong hash, before importing anything', async () => {
    const bad = path.join(transfer, 'tampered');
    fs.cpSync(path.join(transfer, 'dr'), bad, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(bad, 'manifest.json'), 'utf8'));
    const appB = (manifest.versions as ManifestEntry[]).find((e) => e.layerName === 'App B')!;
    appB.sha256 = '0'.repeat(64);
    fs.writeFileSync(path.join(bad, 'manifest.json'), JSON.stringify(manifest));

    const task = await finished(second.api, await importFrom(second, 'tampered'));
    expect(task.state).toBe('failed');
    expect(task.error).toBe(
      `${appB.file} (layer 'App B' version 1) has SHA-256 ${(await run('sha256sum', [path.join(bad, appB.file)])).stdout.split(' ')[0]} and ${appB.sizeBytes} bytes; the manifest says ${'0'.repeat(64)} and ${appB.sizeBytes}`,
    );
    expectWorkerFailures(
      { kind: 'activity', type: 'planLayerImport', error: /the manifest says 0{64}/ },
      { kind: 'workflow', type: 'layerTransfer', error: /the manifest says 0{64}/ },
    );
    expect(await layerRows(second)).toEqual([]);
    expect(filesUnder(second.config.repositoryDir)).toEqual([]);
  }, 120_000);

  it('refuses app layers whose OS layer is neither here nor in the export', async () => {
    await completed(first.api, await exportTo('apps-only', [layers.appA.versionId]));
    const task = await finished(second.api, await importFrom(second, 'apps-only'));
    expect(task.state).toBe('failed');
    expect(task.error).toBe(
      "nothing was imported: app layer 'App A' is bound to OS layer 'Windows 11', which is neither on this appliance nor in the export",
    );
    expectWorkerFailures(
      { kind: 'activity', type: 'planLayerImport', error: /neither on this appliance nor in the export/ },
      { kind: 'workflow', type: 'layerTransfer', error: /neither on this appliance nor in the export/ },
    );
    expect(await layerRows(second)).toEqual([]);
  }, 120_000);

  it('imports with the same identities, OS bindings and priority order; a second import skips them all', async () => {
    const result = await completed<{ transferred: string[]; skipped: string[] }>(
      second.api,
      await importFrom(second, 'dr'),
    );
    expect(result.transferred).toHaveLength(4);
    const mine = await layerRows(first);
    const theirs = await layerRows(second);
    expect(theirs).toEqual(mine);
    for (const row of theirs) {
      const disk = path.join(second.config.repositoryDir, 'layers', row.layerId, `${row.versionId}.vhdx`);
      expect((await run('sha256sum', [disk])).stdout.split(' ')[0]).toBe(row.sha256);
    }
    const again = await completed<{ transferred: string[]; skipped: string[] }>(
      second.api,
      await importFrom(second, 'dr'),
    );
    expect(again).toMatchObject({ transferred: [], skipped: result.transferred });
    // The layers imported now let the app-only export in: its OS layer is here.
    const appsOnly = await completed<{ transferred: string[]; skipped: string[] }>(
      second.api,
      await importFrom(second, 'apps-only'),
    );
    expect(appsOnly).toMatchObject({ transferred: [], skipped: ["layer 'App A' version 1"] });
  }, 300_000);

  it('publishes the same image bytes from the same template on both appliances', async () => {
    const publish = async (app: Appliance) => {
      const share = await fileshareConnector(app.api);
      const templateId = await template(app.api, {
        name: 'Finance',
        osVersionId: layers.os.versionId,
        appVersionIds: [layers.appB.versionId, layers.appA.versionId],
        platformVersionId: layers.platform.versionId,
        connectorId: share.id,
      });
      const image = await completed<PublishImageResult>(
        app.api,
        await app.api.post(`/api/templates/${templateId}/publish`),
      );
      return { ...image, file: path.join(share.mountPoint, `${image.name}.vhdx`) };
    };
    const [one, two] = [await publish(first), await publish(second)];
    expect(two.sha256).toBe(one.sha256);
    await run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'vhdx', one.file, two.file]);
  }, 600_000);

  it('runs one transfer at a time: a second is refused while the first waits for a worker', async () => {
    const idle = await startAppliance({ worker: false });
    try {
      const running = await idle.api.post('/api/layer-transfers/import', {
        mountPoint: transfer,
        folder: 'dr',
      });
      expect(running.status).toBe(202);
      const refused = await idle.api.post('/api/layer-transfers/export', {
        mountPoint: transfer,
        folder: 'other',
        versionIds: [layers.os.versionId],
      });
      expect(refused.status).toBe(409);
      expect(refused.body.detail).toBe(
        `one layer transfer runs at a time; task '${running.body.id}' is running`,
      );
      await idle.stack.client.workflow.getHandle(running.body.id).terminate('test over');
    } finally {
      await idle.stop();
    }
  });
});
