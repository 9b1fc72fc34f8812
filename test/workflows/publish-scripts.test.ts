import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../lib/project-root';
import type { PublishImageResult } from '../../workflows/publish-image';
import {
  builtLayer,
  catFromImage,
  completed,
  eventually,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

const exec = promisify(execFile);

/**
 * Layer scripts in an MCS master image on the local connector (issue 16 §4): the image carries the
 * layers' scripts and the first-start runner; the publish waits for the runner's report and goes on
 * the moment it arrives (no Windows runs here: `lamina vm report` writes the report file onto the
 * VM's C: as the runner does, and the local connector reads it from there). A template whose layers
 * have no scripts does not wait at all. Both publishes get a 10-minute scripts timeout and an hour
 * between polls, so only the report (or no wait) can end them within the test's time.
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

const publish = (templateId: string) =>
  app.api.post(`/api/templates/${templateId}/publish`, {
    scriptsTimeoutSeconds: 600,
    powerPollSeconds: 3600,
  });

const runningVm = () =>
  eventually(async () => {
    for (const id of fs.existsSync(path.join(pool, 'vms')) ? fs.readdirSync(path.join(pool, 'vms')) : []) {
      const file = path.join(pool, 'vms', id, 'vm.json');
      const vm = fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8'));
      if (vm?.power === 'running') return vm as { id: string; name: string };
    }
    return undefined;
  });

it("waits for the runner's report of the layers' scripts and goes on as soon as it arrives", async () => {
  const agent = await builtLayer(
    app.api,
    'app',
    'Agent',
    os.layerId,
    { 'Program Files\\Agent\\agent.exe': 'MZ agent' },
    undefined,
    { 'register.cmd': '@echo registering\r\n' },
  );
  const versions = (await app.api.get(`/api/layers/${agent.layerId}/versions`)).body.items;
  expect(versions[0].scripts).toEqual(['register.cmd']);
  const templateId = await template(app.api, {
    name: 'WithScripts',
    osVersionId: os.versionId,
    appVersionIds: [agent.versionId],
    connectorId: LOCAL_CONNECTOR,
  });
  const started = await publish(templateId);
  const vm = await runningVm();
  // The master image holds the script and the runner the service entry starts.
  const boot = path.join(pool, 'vms', vm.id, 'boot.vhdx');
  const firstStart = '\\ProgramData\\Lamina\\FirstStart';
  expect(await catFromImage(boot, `${firstStart}\\scripts\\002-Agent\\register.cmd`)).toBe(
    '@echo registering\r\n',
  );
  expect(await catFromImage(boot, `${firstStart}\\runner.ps1`)).toBe(
    fs.readFileSync(path.join(projectRoot(), 'compositor', 'first-start', 'runner.ps1'), 'utf8'),
  );
  // Still waiting: nothing reported yet.
  expect((await app.api.get(`/api/tasks/${started.body.id}`)).body.state).toBe('running');

  await exec(process.execPath, [
    path.join(projectRoot(), 'bin', 'lamina'),
    'vm',
    'report',
    vm.name,
    '--detail',
    '1 layer script(s) ran',
    '--pool',
    pool,
  ]);
  const result = await completed<PublishImageResult>(app.api, started);
  expect(result.vm).toMatchObject({ id: vm.id, scripts: { ok: true, detail: '1 layer script(s) ran' } });
  const record = JSON.parse(fs.readFileSync(path.join(pool, 'vms', vm.id, 'vm.json'), 'utf8'));
  expect(record).toMatchObject({ power: 'off', snapshots: [{ name: result.name }] });
}, 300_000);

it('does not wait at all when no layer has scripts: the image has no runner', async () => {
  const plain = await builtLayer(app.api, 'app', 'Plain', os.layerId, { 'Plain\\plain.txt': 'plain' });
  const templateId = await template(app.api, {
    name: 'NoScripts',
    osVersionId: os.versionId,
    appVersionIds: [plain.versionId],
    connectorId: LOCAL_CONNECTOR,
  });
  const result = await completed<PublishImageResult>(app.api, await publish(templateId));
  expect(result.vm).toMatchObject({ snapshot: result.name });
  expect(result.vm!.scripts).toBeUndefined();
  const snapshot = path.join(pool, 'vms', result.vm!.id, 'snapshots', result.name, 'boot.vhdx');
  expect(await catFromImage(snapshot, '\\Plain\\plain.txt')).toBe('plain');
  await expect(catFromImage(snapshot, '\\ProgramData\\Lamina\\FirstStart\\runner.cmd')).rejects.toThrow(
    /ntfscat/,
  );
}, 300_000);
