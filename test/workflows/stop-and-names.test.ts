import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { Task } from '../../api/tasks/task-service';
import { claimImageName } from '../../db/image-names';
import type { PublishImageResult } from '../../workflows/publish-image';
import { imageName } from '../../workflows/image-names';
import { expectWorkerFailures, testDir, workerLogText } from '../harness';
import {
  builtLayer,
  completed,
  eventually,
  fileshareConnector,
  filesUnder,
  finished,
  goldImage,
  importedOs,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

describe('stopping publishes that retry or compose, and the names publishes take', () => {
  let app: Appliance;
  let osLayer: { layerId: string; versionId: string };
  /** An app layer of 150 MiB of incompressible data: its compose takes seconds. */
  let bigApp: string;

  beforeAll(async () => {
    app = await startAppliance();
    osLayer = await importedOs(app.api, await goldImage());
    bigApp = (
      await builtLayer(app.api, 'app', 'Big', osLayer.layerId, {
        'Big\\data.txt': randomBytes(150 * 2 ** 20).toString('base64'),
      })
    ).versionId;
    // Importing an OS and building a 150 MiB layer: over three minutes when the machine is busy.
  }, 600_000);
  afterAll(() => app?.stop());

  const task = async (id: string) => (await app.api.get(`/api/tasks/${id}`)).body as Task;

  /** Stops the task and waits for it to close: its final state. */
  async function stop(id: string): Promise<{ state: string }> {
    const answer = await app.api.post(`/api/tasks/${id}/stop`);
    expect(answer.status).toBe(200);
    const { state } = await finished(app.api, { status: 202, body: { id } as Task, text: '' });
    return { state };
  }

  /** The activities of the task's history with how each ended: `[type, 'Completed' | 'Failed' | …]`. */
  async function activityOutcomes(id: string): Promise<[string, string][]> {
    const history = await app.stack.client.workflow.getHandle(id).fetchHistory();
    const types = new Map<string, string>();
    const outcomes: [string, string][] = [];
    for (const e of history.events ?? []) {
      const type = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (type) types.set(String(e.eventId), type);
      const ends = {
        Completed: e.activityTaskCompletedEventAttributes,
        Failed: e.activityTaskFailedEventAttributes,
        TimedOut: e.activityTaskTimedOutEventAttributes,
        Canceled: e.activityTaskCanceledEventAttributes,
      };
      for (const [outcome, end] of Object.entries(ends)) {
        if (end) outcomes.push([types.get(String(end.scheduledEventId))!, outcome]);
      }
    }
    return outcomes;
  }

  it('shows why a retried step failed; a stop in its back-off ends the task at once, undoing only what was made', async () => {
    // A share mounted read-only: the copy fails with EROFS, which a retry heals once it is remounted.
    const mountPoint = testDir('read-only-share');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint]);
    const share = await app.api.post('/api/connectors', {
      type: 'fileshare',
      name: 'Read-only share',
      settings: { path: '\\\\files\\read-only', mountPoint },
    });
    expect(share.status).toBe(201);
    const templateId = await template(app.api, {
      name: 'Retried',
      osVersionId: osLayer.versionId,
      connectorId: share.body.id,
    });
    // A name stored before the API checked names: its images are named 'dot-small_…' (fileNameStem).
    await app.stack.pool.query(`UPDATE image_templates SET name = '.dot-small' WHERE id = $1`, [templateId]);
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    expect(started.status).toBe(202);

    // Waiting in the back-off before an attempt that is more than 10 s away (the fifth back-off is
    // 16 s): room for a stop on a busy machine, which took 2.5 s at load 14.
    const retrying = await eventually(async () => {
      const copy = (await task(started.body.id)).progress.find((p) => p.step === 'copyImageToStore');
      const wait = copy?.nextAttemptAt ? Date.parse(copy.nextAttemptAt) - Date.now() : 0;
      return copy && copy.attempt >= 3 && wait > 10_000 ? copy : undefined;
    }, 150_000);
    expect(retrying.lastFailure).toMatch(
      /^EROFS: read-only file system, open '.*\/\.dot-small_[\d_-]+\.vhdx\.partial'$/,
    );

    const stopped = await stop(started.body.id);
    expect(stopped.state).toBe('cancelled');
    // Closed before the next attempt was due: the stop did not wait for it.
    expect(Date.now()).toBeLessThan(Date.parse(retrying.nextAttemptAt!));
    expect(fs.readdirSync(mountPoint)).toEqual([]);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    // The compensations of what was never made (the published file) succeed at their first attempt.
    expect((await activityOutcomes(started.body.id)).slice(-4)).toEqual([
      ['copyImageToStore', 'Canceled'],
      ['removeImageFromStore', 'Completed'],
      ['removeConflictReport', 'Completed'],
      ['removeScratch', 'Completed'],
    ]);
    expectWorkerFailures({ kind: 'activity', type: 'copyImageToStore', error: /^EROFS/ });
    expect(workerLogText()).not.toMatch(/manual clean-up/);
  }, 180_000);

  /** The lamina_ntfs processes this process (the test's worker) runs. */
  function ntfsCores(): string[] {
    return fs.readdirSync('/proc').filter((pid) => {
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return false; // not a process, or one that just ended
      }
      // `pid (comm) state ppid …`
      const [, comm, ppid] = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat) ?? [];
      return comm === 'lamina_ntfs' && Number(ppid) === process.pid;
    });
  }

  it('stopped mid-compose: the compose is killed at once and leaves no output or work files', async () => {
    const share = await fileshareConnector(app.api);
    const templateId = await template(app.api, {
      name: 'Composing',
      osVersionId: osLayer.versionId,
      appVersionIds: [bigApp],
      connectorId: share.id,
    });
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    expect(started.status).toBe(202);
    await eventually(async () =>
      // Running: its heartbeat names a phase (a compose only scheduled is cancelled by Temporal alone).
      (await task(started.body.id)).progress.some((p) => p.step === 'composeImage' && p.phase),
    );
    const stopped = await stop(started.body.id);
    expect(stopped.state).toBe('cancelled');

    // The compose ended cancelled, not completed: it was stopped, not waited for.
    const history = await app.stack.client.workflow.getHandle(started.body.id).fetchHistory();
    const events = history.events ?? [];
    const composeIds = events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'composeImage')
      .map((e) => String(e.eventId));
    expect(composeIds).toHaveLength(1);
    expect(
      events.some((e) =>
        composeIds.includes(String(e.activityTaskCanceledEventAttributes?.scheduledEventId)),
      ),
    ).toBe(true);
    expect(
      events.some((e) =>
        composeIds.includes(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
      ),
    ).toBe(false);

    expect(ntfsCores()).toEqual([]);
    expect(fs.readdirSync(app.config.scratchDir)).toEqual([]);
    expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`lamina-volume-${process.pid}-`))).toEqual(
      [],
    );
    expect(fs.readdirSync(share.mountPoint)).toEqual([]);
    expectWorkerFailures();
  }, 120_000);

  it('reserves a name per image: taken stamps get a suffix, also without case, and a retry keeps its name', async () => {
    const pool = app.stack.pool;
    const stamp = 'Reserved_2026-01-01_00-00-00';
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await claimImageName(pool, a, stamp)).toBe(stamp);
    expect(await claimImageName(pool, b, stamp)).toBe(`${stamp}_2`);
    // Windows shares compare file names without case: 'reserved_…' is the same file as 'Reserved_…'.
    expect(await claimImageName(pool, c, stamp.toLowerCase())).toBe(`${stamp.toLowerCase()}_3`);
    expect(await claimImageName(pool, b, stamp)).toBe(`${stamp}_2`);
    // Many at once: each gets a name of its own.
    const many = await Promise.all(
      Array.from({ length: 10 }, () => claimImageName(pool, randomUUID(), 'Many_2026-01-01_00-00-00')),
    );
    expect(new Set(many).size).toBe(10);
  });

  it('two publishes of one template whose stamp is taken write two files; stopping one leaves the other whole', async () => {
    const share = await fileshareConnector(app.api, { maxMiBps: 16 });
    const templateId = await template(app.api, {
      name: 'Twins',
      osVersionId: osLayer.versionId,
      connectorId: share.id,
    });
    // Every stamp of the next two minutes is taken already, as by a publish of the same second: each of
    // the two publishes meets a collision whenever its workflow runs, however busy the machine is.
    const now = Date.now();
    const taken = new Set<string>();
    for (let second = 0; second < 120; second++) {
      const stamp = imageName('Twins', new Date(now + second * 1000));
      taken.add(await claimImageName(app.stack.pool, randomUUID(), stamp));
    }
    const [first, second] = await Promise.all([
      app.api.post(`/api/templates/${templateId}/publish`),
      app.api.post(`/api/templates/${templateId}/publish`),
    ]);
    const partials = await eventually(async () => {
      const files = fs.readdirSync(share.mountPoint).filter((f) => f.endsWith('.partial'));
      return files.length === 2 && files;
    });
    const { rows } = await app.stack.pool.query<{ name: string }>(
      `SELECT name FROM image_names WHERE name LIKE 'Twins_%' ORDER BY name`,
    );
    const names = rows.map((r) => r.name).filter((name) => !taken.has(name));
    expect(names).toHaveLength(2);
    for (const name of names) expect(taken.has(name.replace(/_\d+$/, ''))).toBe(true);
    expect(partials.sort()).toEqual(names.map((name) => `.${name}.vhdx.partial`).sort());

    expect((await stop(first.body.id)).state).toBe('cancelled');
    const result = await completed<PublishImageResult>(app.api, second);
    expect(fs.readdirSync(share.mountPoint)).toEqual([`${result.name}.vhdx`]);
    const published = fs.readFileSync(`${share.mountPoint}/${result.name}.vhdx`);
    expect(createHash('sha256').update(published).digest('hex')).toBe(result.sha256);
    expectWorkerFailures();
  }, 120_000);
});
