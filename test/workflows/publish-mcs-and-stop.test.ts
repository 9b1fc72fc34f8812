import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../../api/tasks/task-service';
import { projectRoot } from '../../lib/project-root';
import type { PublishImageResult } from '../../workflows/publish-image';
import {
  builtLayer,
  catFromImage,
  completed,
  eventually,
  fileshareConnector,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

const exec = promisify(execFile);

describe('publishing as an MCS master image on the local connector, and stopping a publish', () => {
  let app: Appliance;
  let os: { layerId: string; versionId: string };
  let appVersion: string;
  let pool: string;

  beforeAll(async () => {
    app = await startAppliance();
    pool = path.join(app.config.dataDir, 'pool');
    os = await importedOs(app.api, await goldImage());
    // With a first-start script: the master image runs it and reports before it is shut down.
    appVersion = (
      await builtLayer(app.api, 'app', 'Tools', os.layerId, { 'Tools\\tool.txt': 'tool' }, undefined, {
        'setup.cmd': '@echo tools ready',
      })
    ).versionId;
  }, 120_000);
  afterAll(() => app?.stop());

  const runningVm = () =>
    eventually(async () => {
      const vms = fs.existsSync(path.join(pool, 'vms')) ? fs.readdirSync(path.join(pool, 'vms')) : [];
      for (const id of vms) {
        const file = path.join(pool, 'vms', id, 'vm.json');
        const vm = fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8'));
        if (vm?.power === 'running') return vm as { id: string; name: string };
      }
      return undefined;
    });

  it('starts the master image, waits for the scripts report, shuts it down and snapshots it', async () => {
    const templateId = await template(app.api, {
      name: 'MCS',
      osVersionId: os.versionId,
      appVersionIds: [appVersion],
      connectorId: LOCAL_CONNECTOR,
    });
    const started = await app.api.post(`/api/templates/${templateId}/publish`, {
      scriptsTimeoutSeconds: 600,
    });
    const vm = await runningVm();
    expect(vm.name).toMatch(/^MCS_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$/);
    await exec(process.execPath, [
      path.join(projectRoot(), 'bin', 'lamina'),
      'vm',
      'report',
      vm.name,
      '--pool',
      pool,
    ]);

    const result = await completed<PublishImageResult>(app.api, started);
    expect(result.location).toBe(`vm:${result.name}`);
    expect(result.vm).toMatchObject({
      id: vm.id,
      name: result.name,
      snapshot: result.name,
      scripts: { ok: true },
    });
    const record = JSON.parse(fs.readFileSync(path.join(pool, 'vms', vm.id, 'vm.json'), 'utf8'));
    expect(record).toMatchObject({ power: 'off', snapshots: [{ name: result.name }] });
    const snapshotDisk = path.join(pool, 'vms', vm.id, 'snapshots', result.name, 'boot.vhdx');
    expect(await catFromImage(snapshotDisk, '\\Tools\\tool.txt')).toBe('tool');
    const { rows } = await app.stack.pool.query(
      `SELECT vm, output_location AS location FROM published_images`,
    );
    expect(rows).toEqual([
      { vm: { id: vm.id, name: result.name, snapshot: result.name }, location: result.location },
    ]);
    // The uploaded image disk was only the way into the VM.
    expect(filesUnder(path.join(pool, 'disks'))).toEqual([]);
  }, 180_000);

  it('shuts the master image down anyway when the scripts do not report in time', async () => {
    const templateId = await template(app.api, {
      name: 'Quiet',
      osVersionId: os.versionId,
      appVersionIds: [appVersion],
      connectorId: LOCAL_CONNECTOR,
    });
    const result = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${templateId}/publish`, {
        scriptsTimeoutSeconds: 2,
        powerPollSeconds: 1,
      }),
    );
    expect(result.vm).toMatchObject({ snapshot: result.name });
    expect(result.vm!.scripts).toBeUndefined();
  }, 180_000);

  it('stopped during the copy to the share: no file, partial copy, scratch or record is left', async () => {
    const share = await fileshareConnector(app.api, { maxMiBps: 1 });
    const templateId = await template(app.api, {
      name: 'Stopped',
      osVersionId: os.versionId,
      connectorId: share.id,
    });
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    await eventually(async () => {
      const task = (await app.api.get(`/api/tasks/${started.body.id}`)).body as Task;
      return task.progress.some((p) => p.step === 'copyImageToStore' && (p.done ?? 0) > 0);
    });
    expect(fs.readdirSync(share.mountPoint).some((f) => f.endsWith('.partial'))).toBe(true);
    expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
    expect((await finished(app.api, started)).state).toBe('cancelled');

    expect(fs.readdirSync(share.mountPoint)).toEqual([]);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    const { rows } = await app.stack.pool.query(
      `SELECT id FROM published_images WHERE name LIKE 'Stopped_%'`,
    );
    expect(rows).toEqual([]);
  }, 180_000);
});
