import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../../api/tasks/task-service';
import { freePort, stopChild } from '../../lib/processes';
import { startTemporalDevServer, type TemporalDevServer } from '../../runtime/temporal-dev-server';
import type { PublishImageResult } from '../../workflows/publish-image';
import { spawnWorkerProcess, testDir } from '../harness';
import {
  attemptsOf,
  builtLayer,
  completed,
  eventually,
  fileshareConnector,
  filesUnder,
  goldImage,
  importedOs,
  run,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

/** A `lamina worker` process (both task queues, as deployed), so it can be killed like a crashing host. */
function spawnWorker(app: Appliance, temporalAddress: string): ChildProcess {
  return spawnWorkerProcess({
    config: app.config,
    databaseUrl: app.db.url,
    logFile: path.join(app.config.dataDir, 'workers.log'),
    temporalAddress,
  });
}

/** Waits until the task reports progress from `step` (a heartbeat, so the activity is mid-way). */
function progressOf(app: Appliance, taskId: string, step: string, enough: (done: number) => boolean) {
  return eventually(async () => {
    const task = (await app.api.get(`/api/tasks/${taskId}`)).body as Task;
    return task.progress.some((p) => p.step === step && enough(p.done ?? 0));
  }, 120_000);
}

/** OS + two conflicting apps published to a throttled share; the same inputs always give the same bytes. */
async function publishSetup(app: Appliance) {
  const os = await importedOs(app.api, await goldImage());
  const a = await builtLayer(app.api, 'app', 'A', os.layerId, { 'App\\x.txt': 'a' }, { App: 'Who=A' });
  const b = await builtLayer(app.api, 'app', 'B', os.layerId, { 'App\\x.txt': 'b' }, { App: 'Who=B' });
  // Slow enough that a kill lands mid-copy (the 2 GiB image's VHDX file is about 240 MB).
  const share = await fileshareConnector(app.api, { maxMiBps: 40 });
  const templateId = await template(app.api, {
    name: 'Crash',
    osVersionId: os.versionId,
    appVersionIds: [a.versionId, b.versionId],
    connectorId: share.id,
  });
  return { share, templateId };
}

describe('publishing survives kill -9 of the worker during compose and during the share copy', () => {
  let app: Appliance;
  const workers: ChildProcess[] = [];
  let setup: Awaited<ReturnType<typeof publishSetup>>;
  let reference: PublishImageResult;

  beforeAll(async () => {
    app = await startAppliance({ worker: false });
    workers.push(spawnWorker(app, app.config.temporal.address!));
    setup = await publishSetup(app);
    reference = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${setup.templateId}/publish`),
    );
  }, 300_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w)));
    await app?.stop();
  });

  it.each([
    ['compose', 'composeImage', (_done: number) => true],
    ['the share copy', 'copyImageToStore', (done: number) => done > 0],
  ])(
    'killed during %s, the task completes on a new worker with the same image hash',
    async (_what, step, enough) => {
      const started = await app.api.post(`/api/templates/${setup.templateId}/publish`);
      await progressOf(app, started.body.id, step, enough);
      workers[workers.length - 1].kill('SIGKILL');
      workers.push(spawnWorker(app, app.config.temporal.address!));

      const result = await completed<PublishImageResult>(app.api, started);
      expect(result.sha256).toBe(reference.sha256);
      expect(await attemptsOf(app, started.body.id, step)).toBeGreaterThanOrEqual(2);
      if (step === 'copyImageToStore') {
        // The new worker continued from the byte offset of the killed one's last heartbeat.
        expect(fs.readFileSync(path.join(app.config.dataDir, 'workers.log'), 'utf8')).toMatch(
          new RegExp(`resuming the copy of ${result.name}\\.vhdx at byte [1-9]`),
        );
      }
      const { stdout } = await run('sha256sum', [path.join(setup.share.mountPoint, `${result.name}.vhdx`)]);
      expect(stdout.split(' ')[0]).toBe(reference.sha256);
      // Nothing half-written stays behind: no partial copy on the share, no scratch.
      expect(fs.readdirSync(setup.share.mountPoint).filter((f) => f.startsWith('.'))).toEqual([]);
      expect(filesUnder(app.config.scratchDir)).toEqual([]);
    },
    300_000,
  );
});

describe('publishing survives a restart of the Temporal server', () => {
  let server: TemporalDevServer;
  let port: number;
  let dbFile: string;
  let app: Appliance;

  beforeAll(async () => {
    port = await freePort();
    dbFile = path.join(testDir('temporal'), 'temporal.db');
    server = await startTemporalDevServer({ port, namespace: 'default', dbFile, logFile: `${dbFile}.log` });
    app = await startAppliance({ env: { TEMPORAL_ADDRESS: server.address } });
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await server?.stop();
  });

  it('completes the publish that was running when the server went down', async () => {
    const setup = await publishSetup(app);
    const started = await app.api.post(`/api/templates/${setup.templateId}/publish`);
    await progressOf(app, started.body.id, 'copyImageToStore', (done) => done > 0);
    await server.stop();
    await new Promise((r) => setTimeout(r, 2000));
    server = await startTemporalDevServer({ port, namespace: 'default', dbFile, logFile: `${dbFile}.log` });

    const result = await completed<PublishImageResult>(app.api, started);
    const { stdout } = await run('sha256sum', [path.join(setup.share.mountPoint, `${result.name}.vhdx`)]);
    expect(stdout.split(' ')[0]).toBe(result.sha256);
  }, 300_000);
});
