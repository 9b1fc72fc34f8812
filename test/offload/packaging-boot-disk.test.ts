import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../lib/project-root';
import type { PackagingAction, PackagingResult } from '../../workflows/create-layer-version';
import { testDir } from '../harness';
import {
  builtLayer,
  catFromImage,
  completed,
  createLayer,
  eventually,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import {
  composingEngine,
  engineFiles,
  engineRecords,
  offloadEnvironment,
  storagePool,
  targetsShown,
} from './helpers';

const exec = promisify(execFile);

/**
 * The packaging boot disk with the local connector's Offload Compositing on (issue 17 §3): a
 * Compositing Engine (a `lamina ce` process) composes it from the appliance's iSCSI target straight into
 * the storage pool, instead of the appliance composing and uploading it; the disk holds the bytes the
 * appliance's compose writes, and the capture against it takes only what the admin installed.
 */

jest.setTimeout(600_000);

let app: Appliance;
let os: { layerId: string; versionId: string };
let prerequisites: string[];
let pool: string;

beforeAll(async () => {
  app = await startAppliance({ env: await offloadEnvironment() });
  pool = storagePool(app);
  os = await importedOs(app.api, await goldImage());
  const runtime = await builtLayer(app.api, 'app', 'Runtime', os.layerId, {
    'Runtime\\runtime.dll': 'MZ rt',
  });
  const platform = await builtLayer(app.api, 'platform', 'Hypervisor tools', os.layerId, {
    'Tools\\agent.exe': 'MZ agent',
  });
  prerequisites = [runtime.versionId, platform.versionId];
});

afterAll(() => app?.stop());

const offloadCompositing = async (on: boolean) =>
  expect((await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { offloadCompositing: on })).status).toBe(
    200,
  );

/** Starts packaging a new app layer on the prerequisites; answers the task and, once waiting, the machine. */
async function startPackaging(name: string) {
  const layerId = await createLayer(app.api, 'app', name, os.layerId);
  const started = await app.api.post(`/api/layers/${layerId}/versions/package`, {
    version: '1',
    connectorId: LOCAL_CONNECTOR,
    prerequisiteVersionIds: prerequisites,
    powerPollSeconds: 3600,
  });
  expect(started.status).toBe(202);
  return { layerId, started };
}

async function waitingMachine(layerId: string): Promise<PackagingAction> {
  return eventually(async () => {
    const versions = (await app.api.get(`/api/layers/${layerId}/versions`)).body.items;
    const waiting = versions.find((v: { state: string }) => v.state === 'ActionRequired');
    return waiting ? (waiting.action as PackagingAction) : undefined;
  }, 300_000);
}

/** The admin installs one file and shuts the machine down (the real `lamina vm` against the pool). */
async function install(machine: string, file: string, content: string): Promise<void> {
  const lamina = (...args: string[]) =>
    exec(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'vm', ...args, '--pool', pool]);
  const from = testDir(`install-${machine}`);
  fs.mkdirSync(path.join(from, 'Program Files', machine), { recursive: true });
  fs.writeFileSync(path.join(from, 'Program Files', machine, file), content);
  await lamina('install', machine, '--from', from);
  await lamina('shutdown', machine);
}

/** Activities the task's workflow (or its child) scheduled, by name. */
async function scheduled(workflowId: string, activity: string): Promise<number> {
  const history = await app.stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity,
  ).length;
}

async function cachedDisks(): Promise<string[]> {
  const { rows } = await app.stack.pool.query(`SELECT disk_path FROM packaging_cache_entries`);
  return rows.map((r) => `${r.disk_path as string}.vhdx`).sort();
}

async function expectNothingLeft(): Promise<void> {
  await eventually(async () => engineFiles(app).length === 0);
  expect(await engineRecords(app)).toBe(0);
  expect(targetsShown(app)).not.toMatch(/Target \d+:/);
  expect(filesUnder(path.join(pool, 'vms'))).toEqual([]);
  // Only the packaging cache's disks stay in the pool, none of a task's own.
  expect(filesUnder(path.join(pool, 'disks'))).toEqual(await cachedDisks());
  expect(filesUnder(app.config.scratchDir)).toEqual([]);
  expect(filesUnder(path.join(app.config.repositoryDir, 'reports'))).toEqual([]);
}

test('an engine composes the packaging boot disk into the pool, byte for byte the appliance compose', async () => {
  await offloadCompositing(false);
  const local = await startPackaging('Composed here');
  const localMachine = await waitingMachine(local.layerId);
  await offloadCompositing(true);
  const offloaded = await startPackaging('Composed by engine');
  const offloadedMachine = await waitingMachine(offloaded.layerId);

  // The VM's base: the stored boot disk as composed (the VM writes into a differencing child of it).
  const bootDisk = (machine: PackagingAction) => path.join(pool, 'vms', machine.vm.id, 'boot.parent.vhdx');
  expect(
    (await exec('qemu-img', ['compare', '-q', bootDisk(localMachine), bootDisk(offloadedMachine)])).stdout,
  ).toBe('');
  // One engine composed it, and the appliance uploaded no boot disk.
  const child = `packaging-boot-disk-${offloadedMachine.vm.id}`;
  expect(await scheduled(child, 'createCompositingEngine')).toBe(1);
  expect(await scheduled(offloaded.started.body.id, 'uploadDisk')).toBe(0);
  expect(await scheduled(local.started.body.id, 'uploadDisk')).toBe(1);

  await install(offloadedMachine.vm.name, 'tool.exe', 'MZ offloaded');
  await install(localMachine.vm.name, 'tool.exe', 'MZ local');
  const result = await completed<PackagingResult>(app.api, offloaded.started);
  await completed<PackagingResult>(app.api, local.started);

  // The capture's base is the same disk the engine wrote: only the admin's install is captured.
  expect(result.captured).toMatchObject({ files: 1, deletions: 0 });
  expect(await catFromImage(result.diskPath, `\\Program Files\\${offloadedMachine.vm.name}\\tool.exe`)).toBe(
    'MZ offloaded',
  );
  await expect(catFromImage(result.diskPath, '\\Runtime\\runtime.dll')).rejects.toThrow(/ntfscat/);
  await expectNothingLeft();
});

test('stopped while the engine composes the boot disk: engine, target, disk and version are gone', async () => {
  await offloadCompositing(true);
  const { layerId, started } = await startPackaging('Stopped while composing');
  await composingEngine(app);
  expect(targetsShown(app)).toMatch(/Target \d+:/);
  expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);

  expect((await finished(app.api, started)).state).toBe('cancelled');
  await expectNothingLeft();
  const { rows } = await app.stack.pool.query(`SELECT id FROM layer_versions WHERE layer_id = $1`, [layerId]);
  expect(rows).toEqual([]);
});
