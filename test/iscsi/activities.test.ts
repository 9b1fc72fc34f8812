import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger } from '@temporalio/worker';
import { Pool } from 'pg';
import { createIscsiTargetActivities } from '../../activities/iscsi-targets';
import { withFailureTable } from '../../activities/failure-table';
import { migrate } from '../../db/migrate';
import { deriveChapCredentials, iqnFor, type LayerTarget, type LayerTargets } from '../../iscsi';
import { createTestDatabase, testDir, type TestDatabase } from '../harness';
import { MIB } from '../disk/helpers';
import {
  INITIATOR,
  libiscsi,
  makeLayer,
  qemuCompareLun,
  testTargets,
  tgtadmShow,
  type TestLayer,
} from './helpers';

/**
 * createIscsiTarget / removeIscsiTarget as a workflow calls them: layer versions by id from Postgres,
 * credentials derived from the worker's key (never in the activity's input or result), a repeated
 * create and a repeated or needless remove changing nothing, non-retryable failures for versions that
 * cannot be served.
 */
describe('iSCSI target activities', () => {
  const key = Buffer.alloc(32, 9);
  let db: TestDatabase;
  let pool: Pool;
  let dir: string;
  let targets: LayerTargets;
  let controlPort: number;
  let port: number;
  let layers: TestLayer[];
  const versionIds: string[] = [];
  let activities: ReturnType<typeof createIscsiTargetActivities>;

  async function addVersion(layerName: string, layer: TestLayer | undefined, state: string): Promise<string> {
    const layerId = randomUUID();
    const versionId = randomUUID();
    await pool.query(`INSERT INTO layers (id, type, name) VALUES ($1, 'os', $2)`, [layerId, layerName]);
    await pool.query(
      `INSERT INTO layer_versions (id, layer_id, version, state, disk_path, sha256) VALUES ($1, $2, '1', $3, $4, $5)`,
      [versionId, layerId, state, layer?.path ?? null, layer?.sha256 ?? null],
    );
    return versionId;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
    dir = testDir('iscsi-activities');
    layers = [
      makeLayer(dir, 'os', 24 * MIB, [{ offset: 0, length: MIB }]),
      makeLayer(dir, 'app', 16 * MIB, [{ offset: 4 * MIB, length: MIB }]),
    ];
    versionIds.push(await addVersion('Windows', layers[0], 'Deployable'));
    versionIds.push(await addVersion('Office', layers[1], 'Deployable'));
    ({ targets, controlPort, port } = await testTargets(dir));
    activities = withFailureTable(
      createIscsiTargetActivities({ pool, iscsiTargets: targets, iscsiChapKey: key }),
    );
  });

  afterAll(async () => {
    await targets?.close();
    await pool?.end();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The failures this file provokes are asserted; the environment's WARN line for each would only be noise.
  const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  it('serves the versions in the given order to the named initiator with the derived credentials', async () => {
    const input = {
      targetName: 'offloadCompose-7f3a',
      layerVersionIds: versionIds,
      initiatorName: INITIATOR,
    };
    const target = (await env().run(activities.createIscsiTarget, input)) as LayerTarget;
    const chap = deriveChapCredentials(key, input.targetName, 'initiator');
    expect(target).toMatchObject({
      iqn: iqnFor(input.targetName),
      luns: [
        { lun: 1, label: 'Windows 1', sha256: layers[0].sha256, sizeBytes: 24 * MIB },
        { lun: 2, label: 'Office 1', sha256: layers[1].sha256, sizeBytes: 16 * MIB },
      ],
      chapUser: chap.user,
      initiatorName: INITIATOR,
    });
    // What would go to Temporal history holds no secret.
    expect(JSON.stringify(target)).not.toContain(chap.secret);
    for (const [index, layer] of layers.entries()) {
      expect(qemuCompareLun(dir, { port, iqn: target.iqn, lun: index + 1 }, chap, layer.path)).toEqual({
        status: 0,
        output: 'Images are identical.\n',
      });
    }
    const otherTask = deriveChapCredentials(key, 'offloadCompose-other', 'initiator');
    expect(
      libiscsi(
        'iscsi-inq',
        [],
        { port, iqn: target.iqn, lun: 1 },
        { user: chap.user, secret: otherTask.secret },
      ).output,
    ).toMatch(/Authentication failure/);

    // Retried (the worker lost the first answer): the same target, still one.
    expect(await env().run(activities.createIscsiTarget, input)).toEqual(target);
    expect(tgtadmShow(controlPort).match(/^Target \d+:/gm)).toHaveLength(1);
  });

  it('removes the target; removing it again, or one never made, is a no-op', async () => {
    expect(await env().run(activities.removeIscsiTarget, { targetName: 'offloadCompose-7f3a' })).toEqual({
      removed: true,
    });
    expect(tgtadmShow(controlPort)).toBe('');
    expect(await env().run(activities.removeIscsiTarget, { targetName: 'offloadCompose-7f3a' })).toEqual({
      removed: false,
    });
    expect(await env().run(activities.removeIscsiTarget, { targetName: 'never-made' })).toEqual({
      removed: false,
    });
  });

  it('fails non-retryably, naming the version, when a layer version cannot be served; leaves nothing', async () => {
    const creating = await addVersion('Half-made', undefined, 'Creating');
    const missing = randomUUID();
    for (const [id, message] of [
      [creating, `layer version Half-made 1 (${creating}) is Creating, not Deployable with a stored disk`],
      [missing, `layer version ${missing} does not exist`],
    ]) {
      const failure = await env()
        .run(activities.createIscsiTarget, {
          targetName: 'offloadCompose-bad',
          layerVersionIds: [versionIds[0], id],
          initiatorName: INITIATOR,
        })
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'IscsiTargetRefused', nonRetryable: true, message });
    }
    const badName = await env()
      .run(activities.createIscsiTarget, {
        targetName: 'no spaces/please',
        layerVersionIds: versionIds,
        initiatorName: INITIATOR,
      })
      .catch((err: unknown) => err);
    expect(badName).toMatchObject({ type: 'IscsiTargetRefused', nonRetryable: true });
    expect(tgtadmShow(controlPort)).toBe('');
  });
});
