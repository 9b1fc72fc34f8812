import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ElasticSyncResult } from '../../workflows/elastic-sync';
import type { LayerTransferResult } from '../../workflows/layer-transfer';
import { expectWorkerFailures, testDir } from '../harness';
import {
  builtLayer,
  completed,
  eventually,
  filesUnder,
  goldImage,
  importedOs,
  run,
  startAppliance,
  type Appliance,
} from '../workflows/fixtures';
import { readShareFiles } from './share-files';

const MiB = 2 ** 20;

/**
 * A share that can fill up: a tmpfs of its own (a mount point, as shares must be) whose size the test
 * sets with `mount -o remount,size=…`, down to what it holds plus `room` to make it full mid-copy, and
 * back up to let the copy finish. Global teardown unmounts it.
 */
async function tmpfsShare(label: string) {
  const dir = testDir(label);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', dir]);
  const resize = (bytes: number) => run('mount', ['-o', `remount,size=${Math.ceil(bytes / MiB)}m`, dir]);
  return {
    dir,
    /** Leaves `room` bytes free: what the share holds stays, a bigger copy fails for lack of space. */
    fillTo: async (room: number) => {
      const { blocks, bfree, bsize } = fs.statfsSync(dir);
      await resize((blocks - bfree) * bsize + room);
    },
    grow: () => resize(256 * MiB),
  };
}

/** Every file under `dir` with its SHA-256: what the share holds. */
async function contents(dir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const file of filesUnder(dir)) {
    found[file] = (await run('sha256sum', [path.join(dir, file)])).stdout.split(' ')[0];
  }
  return found;
}

describe('a share that fills up mid-copy (tmpfs shrunk under the copy): the copy resumes once there is room', () => {
  let app: Appliance;
  let osLayerId: string;
  let big: { layerId: string; versionId: string; sha256: string };

  /** Waits until the task's copy has failed for lack of space and is waiting to be tried again. */
  const failedForSpace = (taskId: string, activity: string) =>
    eventually(async () => {
      const { raw } = await app.stack.client.workflow.getHandle(taskId).describe();
      const pending = raw.pendingActivities?.find((a) => a.activityType?.name === activity);
      const message = pending?.lastFailure?.message ?? '';
      return (pending?.attempt ?? 0) >= 2 && /ENOSPC|no space left/i.test(message) ? message : undefined;
    }, 120_000);

  beforeAll(async () => {
    app = await startAppliance();
    const os = await importedOs(app.api, await goldImage());
    osLayerId = os.layerId;
    // 24 MiB that neither compress nor read as zero: a layer disk of several non-zero 4 MiB chunks.
    big = await builtLayer(app.api, 'app', 'Big', osLayerId, {
      'Program Files\\Big\\data.txt': randomBytes(18 * MiB).toString('base64'),
    });
  }, 300_000);
  afterAll(() => app?.stop());

  it('elastic sync: the share keeps its last sync whole while full, and the copy goes on from where it stopped', async () => {
    const small = await builtLayer(app.api, 'app', 'Small', osLayerId, { 'Program Files\\S\\s.txt': 's' });
    const share = await tmpfsShare('full-elastic-share');
    const created = await app.api.post('/api/system-settings/elastic-shares', {
      name: 'Filling',
      sharePath: '\\\\files\\filling',
      mountPoint: share.dir,
    });
    expect(created.status).toBe(201);
    const sync = () => app.api.post(`/api/system-settings/elastic-shares/${created.body.id}/sync`);
    const assign = async (layerVersionId: string) =>
      expect(
        (await app.api.post('/api/elastic-assignments', { layerVersionId, machinePatterns: ['VDI-*'] }))
          .status,
      ).toBe(201);

    await assign(small.versionId);
    expect(await completed<ElasticSyncResult>(app.api, await sync())).toMatchObject({
      copied: 1,
      resumed: [],
    });
    const before = await contents(share.dir);

    await share.fillTo(8 * MiB);
    await assign(big.versionId);
    const task = await sync();
    expect(await failedForSpace(task.body.id, 'copyElasticLayer')).toMatch(/ENOSPC|no space left/i);
    // Full: the three files and the layer they name are as the last sync left them; the copy is only a partial file.
    const partial = `Layers/.${big.versionId}.vhdx.partial`;
    const now = await contents(share.dir);
    expect(Object.keys(now).sort()).toEqual([...Object.keys(before), partial].sort());
    for (const [file, sha256] of Object.entries(before)) expect(now[file]).toBe(sha256);
    const partialBytes = fs.statSync(path.join(share.dir, partial)).size;
    expect(partialBytes).toBeGreaterThan(0);
    readShareFiles(share.dir);

    await share.grow();
    const result = await completed<ElasticSyncResult>(app.api, task);
    expect(result).toMatchObject({ layers: 2, copied: 1 });
    // The attempt that finished started at a byte the earlier ones had written, not at 0.
    expect(result.resumed).toEqual([{ versionId: big.versionId, fromByte: expect.any(Number) }]);
    expect(result.resumed[0].fromByte).toBeGreaterThan(0);
    expect(result.resumed[0].fromByte).toBeLessThanOrEqual(partialBytes);
    const after = await contents(share.dir);
    expect(after[`Layers/${big.versionId}.vhdx`]).toBe(big.sha256);
    expect(after[`Layers/${small.versionId}.vhdx`]).toBe(before[`Layers/${small.versionId}.vhdx`]);
    expect(Object.keys(after).filter((f) => f.endsWith('.partial'))).toEqual([]);
    await run('qemu-img', ['check', path.join(share.dir, 'Layers', `${big.versionId}.vhdx`)]);
    // In creation order: Big was built first.
    expect(readShareFiles(share.dir)['Layers.json'].layers.map((l) => l.name)).toEqual(['Big', 'Small']);
    expectWorkerFailures({ kind: 'activity', type: 'copyElasticLayer', error: /ENOSPC/ });
  }, 300_000);

  it('layer export: no manifest while the share is full, then the whole export with the disk resumed', async () => {
    const share = await tmpfsShare('full-transfer-share');
    await share.fillTo(8 * MiB);
    const task = await app.api.post('/api/layer-transfers/export', {
      mountPoint: share.dir,
      folder: 'dr',
      versionIds: [big.versionId],
    });
    expect(task.status).toBe(202);
    expect(await failedForSpace(task.body.id, 'exportLayerVersion')).toMatch(/ENOSPC|no space left/i);
    expect(filesUnder(share.dir)).toEqual([`dr/.${big.versionId}.vhdx.partial`]);

    await share.grow();
    const result = await completed<LayerTransferResult>(app.api, task);
    expect(result.transferred).toEqual(["layer 'Big' version 1"]);
    expect(result.resumed).toEqual([{ version: "layer 'Big' version 1", fromByte: expect.any(Number) }]);
    expect(result.resumed[0].fromByte).toBeGreaterThan(0);
    const after = await contents(share.dir);
    expect(Object.keys(after).sort()).toEqual(['dr/manifest.json', `dr/${big.versionId}.vhdx`].sort());
    expect(after[`dr/${big.versionId}.vhdx`]).toBe(big.sha256);
    expectWorkerFailures({ kind: 'activity', type: 'exportLayerVersion', error: /ENOSPC/ });
  }, 300_000);
});
