import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { inspectLayer } from '../../compositor/inspect';
import { withLayer } from '../../compositor/layer-disk';
import { layerIdentity } from '../../compositor/layer-metadata';
import { projectRoot } from '../../lib/project-root';
import type { PackagingAction, PackagingResult } from '../../workflows/create-layer-version';
import type { PublishImageResult } from '../../workflows/publish-image';
import { expectWorkerFailures, testDir } from '../harness';
import {
  builtLayer,
  catFromImage,
  completed,
  eventually,
  fileshareConnector,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  regText,
  startAppliance,
  type Appliance,
} from './fixtures';

const exec = promisify(execFile);

/**
 * Updating Windows keeps every app layer working (issue 16 §2): an OS layer gets version 2 on a
 * packaging machine (booted from version 1; the admin's update stands in as `lamina vm install` onto
 * C: and HKLM), app and platform layers made on version 1 compose with it, and a template that pairs
 * them is saved with a warning, not refused.
 */
let app: Appliance;
let pool: string;
let os: { layerId: string; versionId: string };

beforeAll(async () => {
  app = await startAppliance();
  pool = path.join(app.config.dataDir, 'pool');
  os = await importedOs(app.api, await goldImage());
}, 120_000);
afterAll(() => app?.stop());

const lamina = (...args: string[]) =>
  exec(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'vm', ...args, '--pool', pool]);

it('makes OS version 2 on a packaging machine; layers made on version 1 compose with it, and the template warns', async () => {
  const editor = await builtLayer(app.api, 'app', 'Editor', os.layerId, {
    'Program Files\\Editor\\editor.exe': 'MZ editor',
  });
  const vda = await builtLayer(app.api, 'platform', 'VDA', os.layerId, {
    'Program Files\\VDA\\vda.exe': 'MZ vda',
  });

  const started = await app.api.post(`/api/layers/${os.layerId}/versions/package`, {
    version: '2',
    connectorId: LOCAL_CONNECTOR,
    powerPollSeconds: 3600,
  });
  expect(started.status).toBe(202);
  const action = await eventually(async () => {
    const versions = (await app.api.get(`/api/layers/${os.layerId}/versions`)).body.items;
    const waiting = versions.find((v: { state: string }) => v.state === 'ActionRequired');
    return waiting ? (waiting.action as PackagingAction) : undefined;
  });
  expect(action.instructions).toMatch(/^Update Windows on packaging machine/);

  // "Windows Update": a new system file, a replaced one, a registry value in SOFTWARE.
  const update = testDir('windows-update');
  fs.mkdirSync(path.join(update, 'Windows', 'System32'), { recursive: true });
  fs.writeFileSync(path.join(update, 'Windows', 'System32', 'kb5030219.dll'), 'MZ cumulative update');
  const reg = path.join(update, '..', 'update.reg');
  fs.writeFileSync(reg, regText({ 'Microsoft\\Windows NT\\CurrentVersion': 'DisplayVersion=24H2' }));
  await lamina('install', action.vm.name, '--from', update, '--reg', reg);
  await lamina('shutdown', action.vm.name);
  const v2 = await completed<PackagingResult>(app.api, started);

  // The whole volume, one identity with version 1: app layers bind to the OS layer, not to a version.
  const firstDisk = (
    await app.stack.pool.query('SELECT disk_path FROM layer_versions WHERE id = $1', [os.versionId])
  ).rows[0].disk_path as string;
  const [first, second] = await Promise.all(
    [firstDisk, v2.diskPath].map(async (disk) => (await inspectLayer(disk)).metadata),
  );
  expect(second).toMatchObject({ type: 'os', version: '2', layer: layerIdentity(first) });
  // Updated within its volume: version 2 is as large as version 1, so the same templates fit it.
  const volumeSize = (disk: string) => withLayer(disk, async (layer) => layer.partitionSize);
  expect(await volumeSize(v2.diskPath)).toBe(await volumeSize(firstDisk));
  expect(await catFromImage(v2.diskPath, '\\Windows\\System32\\kb5030219.dll')).toBe('MZ cumulative update');
  expect(await catFromImage(v2.diskPath, '\\Windows\\System32\\config\\SOFTWARE')).toContain(
    Buffer.from('24H2', 'utf16le').toString(),
  );

  // A template of version 2 with layers made on version 1: saved, with a warning for each.
  const share = await fileshareConnector(app.api);
  const created = await app.api.post('/api/templates', {
    name: 'Updated',
    osVersionId: v2.versionId,
    appVersionIds: [editor.versionId],
    platformVersionId: vda.versionId,
    connectorId: share.id,
    diskSizeGb: 2,
    diskFormat: 'VHDX',
    firmware: 'UEFI',
  });
  expect(created.status).toBe(201);
  expect(created.body.warnings).toEqual([
    {
      field: 'body.platformVersionId',
      message: expect.stringMatching(
        /^VDA 1 was made on an older version of Windows 11 \(1\) than the template's 2: update the platform layer/,
      ),
    },
    {
      field: 'body.appVersionIds.0',
      message: expect.stringMatching(
        /^Editor 1 was made on an older version of Windows 11 \(1\) than the template's 2: it composes/,
      ),
    },
  ]);
  expect((await app.api.get(`/api/templates/${created.body.id}`)).body.warnings).toHaveLength(2);
  // Version 1 itself: nothing to warn about.
  const same = await app.api.post('/api/templates', {
    name: 'Original',
    osVersionId: os.versionId,
    appVersionIds: [editor.versionId],
    connectorId: share.id,
    diskSizeGb: 2,
    diskFormat: 'VHDX',
    firmware: 'UEFI',
  });
  expect(same.body.warnings).toEqual([]);

  // Composed: version 2's update, with the layers made on version 1.
  const image = await completed<PublishImageResult>(
    app.api,
    await app.api.post(`/api/templates/${created.body.id}/publish`),
  );
  const file = path.join(share.mountPoint, path.basename(image.location.replace(/\\/g, '/')));
  expect(await catFromImage(file, '\\Windows\\System32\\kb5030219.dll')).toBe('MZ cumulative update');
  expect(await catFromImage(file, '\\Program Files\\Editor\\editor.exe')).toBe('MZ editor');
  expect(await catFromImage(file, '\\Program Files\\VDA\\vda.exe')).toBe('MZ vda');
}, 600_000);

it('refuses prerequisites and scripts for an OS layer version, and an OS layer with no version to update', async () => {
  const withPrerequisite = await app.api.post(`/api/layers/${os.layerId}/versions/package`, {
    version: '3',
    connectorId: LOCAL_CONNECTOR,
    prerequisiteVersionIds: [os.versionId],
  });
  expect(withPrerequisite.status).toBe(400);
  expect(withPrerequisite.body.errors).toEqual([
    {
      field: 'body.prerequisiteVersionIds',
      message: "an OS layer's new version is made on its current version alone",
    },
  ]);

  const empty = await app.api.post('/api/layers', { type: 'os', name: 'Empty' });
  const started = await app.api.post(`/api/layers/${empty.body.id}/versions/package`, {
    version: '1',
    connectorId: LOCAL_CONNECTOR,
  });
  const task = (await app.api.get(`/api/tasks/${started.body.id}/wait?timeout=60`)).body;
  expect(task.state).toBe('failed');
  expect(task.error).toBe(
    'OS layer Empty has no Deployable version to update: import its first version from a VM disk',
  );
  expectWorkerFailures({ kind: 'workflow', error: /has no Deployable version to update/ });
  expect(
    (await app.stack.pool.query('SELECT id FROM layer_versions WHERE layer_id = $1', [empty.body.id])).rows,
  ).toEqual([]);
}, 120_000);
