import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { loadSecretBox } from '../../config/master-key';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { DEFAULT_LOCAL_CONNECTOR_ID } from '../../db/connectors';
import { configuredLayerTargets } from '../../iscsi';
import { goldImage, startAppliance, type Appliance } from './fixtures';

/**
 * A retried activity runs again with the same arguments (ids the workflow chose): each must leave the
 * same state as one run, never a second record, count or VM.
 */
describe('activities run twice leave what one run leaves', () => {
  let app: Appliance;
  let activities: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    app = await startAppliance({ worker: false });
    activities = createActivities({
      pool: app.stack.pool,
      secrets: loadSecretBox(app.config),
      repositoryDir: app.config.repositoryDir,
      repositoryMinFreeBytes: 0,
      diagnosticsProbeBytes: 0,
      scratchDir: app.config.scratchDir,
      composeTaskQueue: app.config.compose.taskQueue,
      uploadsDir: app.config.uploads.dir,
      // No iSCSI target is made here: tgtd would start only with the first.
      iscsiTargets: configuredLayerTargets(app.config.iscsi),
      iscsiChapKey: Buffer.alloc(32),
      // No Compositing Engine is launched here.
      offload: { engineEnvironment: {}, engineAddress: '127.0.0.1', registrationSeconds: 60 },
    });
    await app.stack.pool.query(`UPDATE connectors SET packaging_cache_gb = 10 WHERE id = $1`, [
      DEFAULT_LOCAL_CONNECTOR_ID,
    ]);
  });
  afterAll(() => app?.stop());

  it('prepareLayerVersion: one version row, one creation sequence', async () => {
    const { rows } = await app.stack.pool.query(
      `INSERT INTO layers (id, type, name) VALUES ($1, 'os', 'Twice') RETURNING id`,
      [randomUUID()],
    );
    const input = { versionId: randomUUID(), layerId: rows[0].id, version: '1', taskId: 'task-1' };
    const first = await activities.prepareLayerVersion(input);
    const second = await activities.prepareLayerVersion(input);
    expect(second).toEqual(first);
    const count = await app.stack.pool.query(
      'SELECT count(*)::int AS n FROM layer_versions WHERE layer_id = $1',
      [input.layerId],
    );
    expect(count.rows[0].n).toBe(1);
  });

  it('lookUpPackagingCache: a lookup is counted once however often it runs', async () => {
    const lookupId = randomUUID();
    for (let i = 0; i < 3; i++)
      await activities.lookUpPackagingCache(lookupId, DEFAULT_LOCAL_CONNECTOR_ID, ['x']);
    const { rows } = await app.stack.pool.query(
      'SELECT cache_lookups::int AS lookups, cache_hits::int AS hits FROM connectors WHERE id = $1',
      [DEFAULT_LOCAL_CONNECTOR_ID],
    );
    expect(rows[0]).toEqual({ lookups: 1, hits: 0 });
  });

  it('VM operations: one VM, one snapshot, destroy of what is gone succeeds', async () => {
    const gold = await goldImage();
    // Uploads heartbeat and watch for cancellation: they run in an activity context.
    const upload = () =>
      new MockActivityEnvironment().run(activities.uploadDisk, DEFAULT_LOCAL_CONNECTOR_ID, 'twice', gold);
    await upload();
    await upload();
    const spec = {
      id: randomUUID(),
      name: 'Twice',
      cpus: 1,
      memoryMiB: 1024,
      disks: [{ name: 'boot', from: 'twice' }],
      tags: {},
    };
    await activities.createVm(DEFAULT_LOCAL_CONNECTOR_ID, spec);
    await activities.createVm(DEFAULT_LOCAL_CONNECTOR_ID, spec);
    await activities.snapshotVm(DEFAULT_LOCAL_CONNECTOR_ID, spec.id, 'snap');
    await activities.snapshotVm(DEFAULT_LOCAL_CONNECTOR_ID, spec.id, 'snap');
    const host = new LocalVmHost(path.join(app.config.dataDir, 'pool'));
    expect((await host.listVms()).map((vm) => [vm.id, vm.snapshots.length])).toEqual([[spec.id, 1]]);
    await activities.destroyVm(DEFAULT_LOCAL_CONNECTOR_ID, spec.id);
    await activities.destroyVm(DEFAULT_LOCAL_CONNECTOR_ID, spec.id);
    await activities.deleteDisk(DEFAULT_LOCAL_CONNECTOR_ID, 'twice');
    await activities.deleteDisk(DEFAULT_LOCAL_CONNECTOR_ID, 'twice');
    expect(await host.listVms()).toEqual([]);
  }, 120_000);
});
