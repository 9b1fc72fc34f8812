import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { Task } from '../../api/tasks/task-service';
import { expectWorkerFailures, testDir } from '../harness';
import {
  builtLayer,
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

describe('stopping publishes that retry or compose', () => {
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
  }, 180_000);
  afterAll(() => app?.stop());

  const task = async (id: string) => (await app.api.get(`/api/tasks/${id}`)).body as Task;

  /** Stops the task and waits for it to close: its final state and how long the stop took. */
  async function stop(id: string): Promise<{ state: string; seconds: number }> {
    const begun = Date.now();
    const answer = await app.api.post(`/api/tasks/${id}/stop`);
    expect(answer.status).toBe(200);
    const { state } = await finished(app.api, { status: 202, body: { id } as Task, text: '' });
    return { state, seconds: (Date.now() - begun) / 1000 };
  }

  it('shows why a retried step failed, and a stop during its back-off ends the task at once', async () => {
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
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    expect(started.status).toBe(202);

    // Waiting in the back-off before an attempt that is seconds away.
    const retrying = await eventually(async () => {
      const copy = (await task(started.body.id)).progress.find((p) => p.step === 'copyImageToStore');
      const wait = copy?.nextAttemptAt ? Date.parse(copy.nextAttemptAt) - Date.now() : 0;
      return copy && copy.attempt >= 3 && wait > 2000 ? copy : undefined;
    }, 90_000);
    expect(retrying.lastFailure).toMatch(
      /^EROFS: read-only file system, open '.*\/\.Retried_[\d_-]+\.vhdx\.partial'$/,
    );

    const stopped = await stop(started.body.id);
    expect(stopped.state).toBe('cancelled');
    // Closed before the next attempt was due: the stop did not wait for it.
    expect(Date.now()).toBeLessThan(Date.parse(retrying.nextAttemptAt!));
    expect(stopped.seconds).toBeLessThan(2);
    expect(fs.readdirSync(mountPoint)).toEqual([]);
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expectWorkerFailures({ kind: 'activity', type: 'copyImageToStore', error: /^EROFS/ });
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
    expect(stopped.seconds).toBeLessThan(2);

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
});
