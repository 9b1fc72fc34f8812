import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BlockMappedDisk, openDisk } from '../../disk';
import { projectRoot } from '../../lib/project-root';
import type { PackagingAction, PackagingResult } from '../../workflows/create-layer-version';
import { testDir } from '../harness';
import {
  appPackage,
  catFromImage,
  completed,
  createLayer,
  eventually,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  regText,
  startAppliance,
  upload,
  type Appliance,
} from './fixtures';

const exec = promisify(execFile);

/**
 * What Lamina's reader finds a VM disk to be: a differencing disk, its parent's file, and the bytes
 * it holds itself (qemu-img cannot open a differencing VHDX).
 */
async function differencingDisk(file: string): Promise<{ parent?: string; ownBytes: number }> {
  const disk = await openDisk(file);
  try {
    if (!(disk instanceof BlockMappedDisk) || disk.format !== 'vhdx')
      throw new Error(`${file} is a ${disk.format}`);
    return {
      parent: disk.parent?.path,
      ownBytes: disk.ownExtents().reduce((sum, e) => sum + e.length, 0),
    };
  } finally {
    await disk.close();
  }
}

/**
 * createLayerVersion through the capture path: the packaging machine boots a differencing child of
 * the composed boot disk, the admin (`lamina vm install`, which writes onto C: and into the hives as an
 * installer does) changes it, and the version is captured from the difference.
 */
describe('createLayerVersion: the packaging machine on the local connector, and its packaging cache', () => {
  let app: Appliance;
  let os: { layerId: string; versionId: string };
  let pool: string;

  /** The admin's side, through the real `lamina vm` command against the local connector's pool. */
  const lamina = (...args: string[]) =>
    exec(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'vm', ...args, '--pool', pool]);

  const startPackaging = async (
    name: string,
    prerequisiteVersionIds: string[] = [],
    existing?: { layerId: string; version: string },
  ) => {
    const layerId = existing?.layerId ?? (await createLayer(app.api, 'app', name, os.layerId));
    const started = await app.api.post(`/api/layers/${layerId}/versions/package`, {
      version: existing?.version ?? '1',
      connectorId: LOCAL_CONNECTOR,
      prerequisiteVersionIds,
      // The power watcher's signal must end the wait; this poll would come far too late for the test.
      powerPollSeconds: 3600,
    });
    expect(started.status).toBe(202);
    // What the console shows: the version waits for the admin, with the machine and instructions.
    const action = await eventually(async () => {
      const versions = (await app.api.get(`/api/layers/${layerId}/versions`)).body.items;
      const waiting = versions.find((v: { state: string }) => v.state === 'ActionRequired');
      return waiting ? (waiting.action as PackagingAction) : undefined;
    });
    return { layerId, started, action };
  };

  const cacheCounters = async () =>
    (
      await app.stack.pool.query(
        `SELECT cache_hits::int AS hits, cache_lookups::int AS lookups FROM connectors WHERE id = $1`,
        [LOCAL_CONNECTOR],
      )
    ).rows[0];
  const cachedKeys = async () =>
    (
      await app.stack.pool.query(`SELECT disk_path FROM packaging_cache_entries ORDER BY last_used_at`)
    ).rows.map((r) => r.disk_path as string);

  beforeAll(async () => {
    app = await startAppliance();
    pool = path.join(app.config.dataDir, 'pool');
    os = await importedOs(app.api, await goldImage());
    // Room for one boot disk (the OS volume, under 1 GiB, the layers on it and 4 GiB headroom), not two.
    const patched = await app.api.patch(`/api/connectors/${LOCAL_CONNECTOR}`, { packagingCacheGb: 8 });
    expect(patched.status).toBe(200);
  }, 120_000);
  afterAll(() => app?.stop());

  let firstVersion: string;
  let notepad: string;

  it('waits for the admin, then captures what was installed on C: into a Deployable layer version (cache miss)', async () => {
    const { layerId, started, action } = await startPackaging('Notepad++');
    notepad = layerId;
    expect(action.instructions).toMatch(/lamina vm install/);
    const vm = JSON.parse(fs.readFileSync(path.join(pool, 'vms', action.vm.id, 'vm.json'), 'utf8'));
    expect(vm).toMatchObject({ power: 'running', cpus: 2, memoryMiB: 4096 });
    // One disk, where the admin installs: a differencing child of the composed boot disk. No package disk.
    expect(vm.disks.map((d: { name: string }) => d.name)).toEqual(['boot']);
    const bootDisk = path.join(pool, 'vms', action.vm.id, 'boot.vhdx');
    const base = path.join(pool, 'vms', action.vm.id, 'boot.parent.vhdx');
    expect(await differencingDisk(bootDisk)).toEqual({ parent: fs.realpathSync(base), ownBytes: 0 });
    // Sized from the OS volume (under 1 GiB) plus 4 GiB of room for the install, not a fixed 2 GiB.
    const { stdout } = await exec('qemu-img', ['info', '--output=json', base]);
    const virtualSize = JSON.parse(stdout)['virtual-size'] as number;
    expect(virtualSize).toBeGreaterThan(4 * 2 ** 30);
    expect(virtualSize).toBeLessThan(5.2 * 2 ** 30);
    expect(virtualSize % 2 ** 20).toBe(0);

    const installer = testDir('installer');
    fs.mkdirSync(path.join(installer, 'Program Files', 'Notepad++'), { recursive: true });
    fs.writeFileSync(path.join(installer, 'Program Files', 'Notepad++', 'notepad++.exe'), 'MZ editor');
    fs.writeFileSync(path.join(installer, 'Program Files', 'Notepad++', 'readme.txt'), 'read me');
    fs.writeFileSync(path.join(installer, 'Program Files', 'Notepad++', 'license.txt'), 'GPL');
    const reg = path.join(installer, '..', 'npp.reg');
    fs.writeFileSync(reg, regText({ 'Notepad++': 'Version=8.6' }));
    await lamina('install', action.vm.name, '--from', installer, '--reg', reg);
    // Onto C: and into the SOFTWARE hive of the VM's boot disk, as an installer would: into the child,
    // which stores the 2 MiB blocks that changed, far fewer bytes than the base holds.
    expect(await catFromImage(bootDisk, '\\Program Files\\Notepad++\\notepad++.exe')).toBe('MZ editor');
    const installed = await differencingDisk(bootDisk);
    expect(installed.parent).toBe(fs.realpathSync(base));
    expect(installed.ownBytes).toBeGreaterThan(0);
    expect(fs.statSync(bootDisk).size).toBeLessThan(fs.statSync(base).size / 4);
    await lamina('shutdown', action.vm.name);

    const result = await completed<PackagingResult>(app.api, started);
    firstVersion = result.versionId;
    expect(result.cacheHit).toBe(false);
    expect(result.elasticFit).toEqual({ verdict: 'fit', reasons: [] });
    expect(result.captured).toMatchObject({ files: 3, deletions: 0 });
    // Captured from the child's block map: only the part of the volume the child holds was inspected.
    expect(result.captured!.childOfBaseBytes).toBeGreaterThan(0);
    expect(result.captured!.childOfBaseBytes).toBeLessThanOrEqual(installed.ownBytes);
    expect(await catFromImage(result.diskPath, '\\Program Files\\Notepad++\\notepad++.exe')).toBe(
      'MZ editor',
    );
    expect(await catFromImage(result.diskPath, '\\.lamina\\registry.reg')).toMatch(/"Version"="8\.6"/);
    const { rows } = await app.stack.pool.query(
      `SELECT state, action, elastic_fit, based_on_version_id FROM layer_versions WHERE layer_id = $1`,
      [layerId],
    );
    expect(rows).toEqual([
      { state: 'Deployable', action: null, elastic_fit: 'fit', based_on_version_id: null },
    ]);

    // The packaging VM and its disks are gone; the composed boot disk stays, cached.
    expect(fs.readdirSync(path.join(pool, 'vms'))).toEqual([]);
    expect(filesUnder(path.join(pool, 'disks'))).toEqual((await cachedKeys()).map((name) => `${name}.vhdx`));
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expect(await cacheCounters()).toEqual({ hits: 0, lookups: 1 });
  }, 180_000);

  it('reuses the cached boot disk for the same OS and prerequisites (cache hit)', async () => {
    const { started, action } = await startPackaging('7-Zip');
    // This time the admin's install and shutdown come through the API's stand-ins, each a task.
    const vmUrl = `/api/connectors/${LOCAL_CONNECTOR}/vms/${action.vm.id}`;
    const missing = await app.api.post(`${vmUrl}/install`, {
      content: '00000000-0000-4000-8000-000000000000',
    });
    expect(missing.status).toBe(422);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'body.content' })]);
    const pkg = await appPackage({ 'Program Files\\7-Zip\\7z.exe': 'MZ archiver' });
    const install = await app.api.post(`${vmUrl}/install`, { content: await upload(app.api, pkg.zip) });
    expect(install.headers.get('location')).toBe(`/api/tasks/${install.body.id}`);
    expect(await completed(app.api, install)).toEqual({ vmId: action.vm.id, power: 'running' });
    const shutdown = await app.api.post(`${vmUrl}/shutdown`);
    expect(await completed(app.api, shutdown)).toEqual({ vmId: action.vm.id, power: 'off' });
    const result = await completed<PackagingResult>(app.api, started);
    expect(result.cacheHit).toBe(true);
    // The base composed again for the capture is the cached disk the machine's child was made from.
    expect(result.captured?.childOfBaseBytes).toBeGreaterThan(0);
    expect(await catFromImage(result.diskPath, '\\Program Files\\7-Zip\\7z.exe')).toBe('MZ archiver');
    expect(await cacheCounters()).toEqual({ hits: 1, lookups: 2 });
    expect(await cachedKeys()).toHaveLength(1);
  }, 180_000);

  it('version 2 starts from version 1 and holds its files, its own changes, and not what it deleted', async () => {
    const before = await cachedKeys();
    const { started, action } = await startPackaging('Notepad++', [], { layerId: notepad, version: '2' });
    // The machine shows version 1: the admin updates the installed application.
    const bootDisk = path.join(pool, 'vms', action.vm.id, 'boot.vhdx');
    expect(await catFromImage(bootDisk, '\\Program Files\\Notepad++\\notepad++.exe')).toBe('MZ editor');
    const update = testDir('update');
    fs.mkdirSync(path.join(update, 'Program Files', 'Notepad++', 'plugins'), { recursive: true });
    fs.writeFileSync(path.join(update, 'Program Files', 'Notepad++', 'notepad++.exe'), 'MZ editor 2');
    fs.writeFileSync(path.join(update, 'Program Files', 'Notepad++', 'plugins', 'compare.dll'), 'MZ plugin');
    const deletions = path.join(update, '..', 'deletions.txt');
    fs.writeFileSync(deletions, '\\Program Files\\Notepad++\\readme.txt\n');
    await lamina('install', action.vm.name, '--from', update, '--deletions', deletions);
    const { ownBytes } = await differencingDisk(bootDisk);
    await lamina('shutdown', action.vm.name);

    const result = await completed<PackagingResult>(app.api, started);
    expect(result.captured!.childOfBaseBytes).toBeGreaterThan(0);
    expect(result.captured!.childOfBaseBytes).toBeLessThanOrEqual(ownBytes);
    // A new boot disk (version 1 on it): a miss, which evicted the only cached one.
    expect(result.cacheHit).toBe(false);
    expect(await cachedKeys()).toHaveLength(1);
    expect((await cachedKeys())[0]).not.toBe(before[0]);
    const file = (windowsPath: string) => catFromImage(result.diskPath, windowsPath);
    expect(await file('\\Program Files\\Notepad++\\notepad++.exe')).toBe('MZ editor 2');
    expect(await file('\\Program Files\\Notepad++\\plugins\\compare.dll')).toBe('MZ plugin');
    expect(await file('\\Program Files\\Notepad++\\license.txt')).toBe('GPL');
    await expect(file('\\Program Files\\Notepad++\\readme.txt')).rejects.toThrow(/ntfscat/);
    expect(await file('\\.lamina\\registry.reg')).toMatch(/"Version"="8\.6"/);
    expect(JSON.parse(await file('\\.lamina\\deletions.json'))).toEqual([
      '\\Program Files\\Notepad++\\readme.txt',
    ]);
    const { rows } = await app.stack.pool.query(
      `SELECT version, based_on_version_id AS "basedOn" FROM layer_versions WHERE id = $1`,
      [result.versionId],
    );
    expect(rows).toEqual([{ version: '2', basedOn: firstVersion }]);
    expect(await cacheCounters()).toEqual({ hits: 1, lookups: 3 });
  }, 180_000);

  it('a machine with a prerequisite has its own boot disk, which evicts the least recently used', async () => {
    const before = await cachedKeys();
    const { started, action } = await startPackaging('Plugin', [firstVersion]);
    await lamina('shutdown', action.vm.name);
    expect((await completed<{ cacheHit: boolean }>(app.api, started)).cacheHit).toBe(false);
    const after = await cachedKeys();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(filesUnder(path.join(pool, 'disks'))).toEqual([`${after[0]}.vhdx`]);
    expect(await cacheCounters()).toEqual({ hits: 1, lookups: 4 });
  }, 180_000);

  it('stopped while the machine waits for the admin: nothing is left but the cache', async () => {
    const { layerId, started } = await startPackaging('Abandoned');
    expect(fs.readdirSync(path.join(pool, 'vms'))).toHaveLength(1);
    expect((await app.api.post(`/api/tasks/${started.body.id}/stop`)).status).toBeLessThan(300);
    expect((await finished(app.api, started)).state).toBe('cancelled');

    expect(fs.readdirSync(path.join(pool, 'vms'))).toEqual([]);
    // Only recorded cache entries remain among the stored disks: no boot or package disk of the task.
    expect(filesUnder(path.join(pool, 'disks'))).toEqual((await cachedKeys()).map((name) => `${name}.vhdx`));
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expect(filesUnder(path.join(app.config.repositoryDir, 'layers', layerId))).toEqual([]);
    const { rows } = await app.stack.pool.query(`SELECT id FROM layer_versions WHERE layer_id = $1`, [
      layerId,
    ]);
    expect(rows).toEqual([]);
  }, 180_000);
});
