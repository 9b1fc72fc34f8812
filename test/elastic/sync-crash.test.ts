import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { digestFile } from '../../activities/file-digest';
import { stopChild } from '../../lib/processes';
import { mountedDir, spawnWorkerProcess } from '../harness';
import {
  builtLayer,
  completed,
  goldImage,
  importedOs,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { joinDirectory, startAdDirectory, type AdDirectory } from './ad-directory';
import { FILE_NAMES, readShareFiles } from './share-files';

/** A `lamina worker` process on the appliance's queues, so it can be killed like a crashing host. */
function spawnWorker(app: Appliance, logFile: string): ChildProcess {
  return spawnWorkerProcess({
    config: app.config,
    databaseUrl: app.db.url,
    logFile,
    env: { LAMINA_REPOSITORY_MIN_FREE_GIB: '0', LAMINA_IMPORT_DIRS: app.config.importDirs.join(':') },
  });
}

describe('a worker killed with SIGKILL during an elastic sync', () => {
  let directory: AdDirectory;
  let app: Appliance;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    directory = await startAdDirectory();
    app = await startAppliance({ worker: false });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w)));
    await app?.stop();
    await directory?.stop();
  });

  it('leaves the files of the last complete sync, never a mix, and the next worker finishes the sync', async () => {
    const logFile = path.join(app.config.dataDir, 'workers.log');
    workers.push(spawnWorker(app, logFile));
    await joinDirectory(app.api, directory);
    const os = await importedOs(app.api, await goldImage());
    const small = await builtLayer(app.api, 'app', 'Small', os.layerId, { 'small.txt': 'small' });
    // Big enough that its copy to the share is still running when the worker is killed.
    const big = await builtLayer(app.api, 'app', 'Big', os.layerId, {
      'Program Files\\Big\\data.bin': randomBytes(96 * 2 ** 20).toString('base64'),
    });
    const mountPoint = mountedDir('elastic-share');
    const share = (
      await app.api.post('/api/system-settings/elastic-shares', {
        name: 'Elastic',
        sharePath: '\\\\files\\elastic',
        mountPoint,
      })
    ).body.id as string;
    const sync = () => app.api.post(`/api/system-settings/elastic-shares/${share}/sync`);
    expect(
      (
        await app.api.post('/api/elastic-assignments', {
          layerVersionId: small.versionId,
          users: ['EXAMPLE\\alice'],
        })
      ).status,
    ).toBe(201);
    await completed(app.api, await sync());
    const old = readShareFiles(mountPoint);

    expect(
      (
        await app.api.post('/api/elastic-assignments', {
          layerVersionId: big.versionId,
          groups: ['EXAMPLE\\it-staff'],
        })
      ).status,
    ).toBe(201);
    const started = await sync();
    const partial = path.join(mountPoint, 'Layers', `.${big.versionId}.vhdx.partial`);
    while (!fs.existsSync(partial)) await new Promise((resolve) => setTimeout(resolve, 5));
    workers[0].kill('SIGKILL');
    await new Promise((resolve) => workers[0].once('exit', resolve));

    // The old files, whole: the same generation in all three, valid, naming only the small layer.
    expect(readShareFiles(mountPoint)).toEqual(old);
    expect(
      fs
        .readdirSync(mountPoint)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual([...FILE_NAMES].sort());

    workers.push(spawnWorker(app, logFile));
    const result = await completed<{ copied: number; layers: number }>(app.api, started);
    expect(result).toMatchObject({ layers: 2, copied: 1 });
    const now = readShareFiles(mountPoint);
    expect(now['Layers.json'].layers.map((l) => l.name)).toEqual(['Small', 'Big']);
    expect(new Set(Object.values(now).map((f) => f.generation)).size).toBe(1);
    expect(now['Layers.json'].generation).not.toBe(old['Layers.json'].generation);
    // The partial copy became the layer's file, with the layer's hash; nothing else is left.
    expect(fs.readdirSync(path.join(mountPoint, 'Layers')).sort()).toEqual(
      [`${big.versionId}.vhdx`, `${small.versionId}.vhdx`].sort(),
    );
    expect((await digestFile(path.join(mountPoint, 'Layers', `${big.versionId}.vhdx`))).sha256).toBe(
      big.sha256,
    );
  }, 600_000);
});
