import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { stopChild } from '../lib/processes';
import { projectRoot } from '../lib/project-root';
import type { WorkerQueue } from '../runtime/stack';
import type { PackagingAction } from '../workflows/create-layer-version';
import type { PublishImageResult } from '../workflows/publish-image';
import { testDir } from './harness';
import {
  builtLayer,
  catFromImage,
  completed,
  createLayer,
  eventually,
  fileshareConnector,
  filesUnder,
  goldImage,
  importedOs,
  LOCAL_CONNECTOR,
  regText,
  run,
  startAppliance,
  template,
  type Appliance,
} from './workflows/fixtures';

const exec = promisify(execFile);

/**
 * Issue 15 asks for 20 publishes and 5 packaging tasks; CI runs fewer so the whole suite keeps its
 * budget on a 2-core machine. `LAMINA_SCALE_OUT_PUBLISHES=20 LAMINA_SCALE_OUT_PACKAGINGS=5` runs the full size.
 */
function countFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return value;
}
const PUBLISHES = countFromEnv('LAMINA_SCALE_OUT_PUBLISHES', 6);
const PACKAGINGS = countFromEnv('LAMINA_SCALE_OUT_PACKAGINGS', 2);

/** Activities that report progress in heartbeats: a dead worker's run is retried within 10 s. */
const HEARTBEATING = new Set(['copyImageToStore', 'uploadDisk', 'exportVmDisk']);
const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;

interface WorkerProcess {
  queue: WorkerQueue;
  child: ChildProcess;
  /** The SDK's default worker identity, `<pid>@<host>`, as Temporal records it in history. */
  identity: string;
  tmp: string;
}

/** One `lamina worker --queue <queue>` process: its own log and temporary folder, the shared data folder. */
function spawnWorker(app: Appliance, queue: WorkerQueue, n: number): WorkerProcess {
  const tmp = testDir(`tmp-${queue}-${n}`);
  const log = fs.openSync(path.join(app.config.dataDir, `worker-${queue}-${n}.log`), 'a');
  const child = spawn(
    process.execPath,
    [path.join(projectRoot(), 'bin', 'lamina'), 'worker', '--queue', queue],
    {
      env: {
        PATH: process.env.PATH,
        TMPDIR: tmp,
        TEMPORAL_ADDRESS: app.config.temporal.address,
        DATABASE_URL: app.db.url,
        LAMINA_TASK_QUEUE: app.config.taskQueue,
        LAMINA_COMPOSE_TASK_QUEUE: app.config.compose.taskQueue,
        // One compose at a time per process: two compose workers then have the machine's two cores.
        LAMINA_COMPOSE_CONCURRENCY: '1',
        LAMINA_DATA_DIR: app.config.dataDir,
        LAMINA_IMPORT_DIRS: app.config.importDirs.join(':'),
        LAMINA_REPOSITORY_MIN_FREE_GIB: '0',
      },
      stdio: ['ignore', log, log],
    },
  );
  fs.closeSync(log);
  return { queue, child, identity: `${child.pid}@${os.hostname()}`, tmp };
}

/** Resolves once every given worker polls its task queue for activities. */
async function polling(app: Appliance, workers: WorkerProcess[]): Promise<void> {
  for (const worker of workers) {
    const queue = worker.queue === 'appliance' ? app.config.taskQueue : app.config.compose.taskQueue;
    await eventually(async () => {
      const { pollers } = await app.stack.client.workflowService.describeTaskQueue({
        namespace: app.config.temporal.namespace,
        taskQueue: { name: queue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      return pollers?.some((p) => p.identity === worker.identity);
    }, 120_000);
  }
}

interface ActivityRun {
  taskId: string;
  type: string;
  queue: string;
  identity: string;
  attempt: number;
}

/** The activities a task ran, from its history: the worker that ran each one's last attempt, and where. */
async function activityRuns(app: Appliance, taskId: string): Promise<ActivityRun[]> {
  const history = await app.stack.client.workflow.getHandle(taskId).fetchHistory();
  const scheduled = new Map<string, { type: string; queue: string }>();
  const runs: ActivityRun[] = [];
  for (const event of history.events ?? []) {
    const planned = event.activityTaskScheduledEventAttributes;
    if (planned) {
      scheduled.set(String(event.eventId), {
        type: planned.activityType?.name ?? '',
        queue: planned.taskQueue?.name ?? '',
      });
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const activity = scheduled.get(String(started.scheduledEventId))!;
      runs.push({ taskId, ...activity, identity: started.identity ?? '', attempt: started.attempt ?? 1 });
    }
  }
  return runs;
}

interface RunningActivity {
  taskId: string;
  type: string;
  identity: string;
  /** It has sent a heartbeat: past its start-up, at work. */
  heartbeats: boolean;
  /** Since its current attempt started, by the server's clock (this machine's). */
  runningMs: number;
}

/** Activities running now (started, not closed) in the given tasks, with the worker running each. */
async function runningActivities(app: Appliance, taskIds: string[]): Promise<RunningActivity[]> {
  const descriptions = await Promise.all(
    taskIds.map((id) => app.stack.client.workflow.getHandle(id).describe()),
  );
  return descriptions.flatMap((description) =>
    (description.raw.pendingActivities ?? [])
      .filter((a) => a.state === STARTED)
      .map((a) => ({
        taskId: description.workflowId,
        type: a.activityType?.name ?? '',
        identity: a.lastWorkerIdentity ?? '',
        heartbeats: Boolean(a.lastHeartbeatTime),
        runningMs: Date.now() - tsToMs(a.lastStartedTime),
      })),
  );
}

describe('scale-out: two appliance and two compose workers, one of each killed with SIGKILL mid-run', () => {
  let app: Appliance;
  const workers: WorkerProcess[] = [];
  let os1: { layerId: string; versionId: string };
  let share: { id: string; mountPoint: string };
  /** One template per publish, all with the same layers, size and format: see the publishes below. */
  let templateIds: string[];
  let reference: PublishImageResult;
  let vmPool: string;

  beforeAll(async () => {
    app = await startAppliance({ worker: false });
    vmPool = path.join(app.config.dataDir, 'pool');
    // The single-worker reference: one worker of each kind builds the layers and publishes once.
    workers.push(spawnWorker(app, 'appliance', 1), spawnWorker(app, 'compose', 1));
    await polling(app, workers);
    os1 = await importedOs(app.api, await goldImage());
    const a = await builtLayer(app.api, 'app', 'A', os1.layerId, { 'App\\x.txt': 'a' }, { App: 'Who=A' });
    const b = await builtLayer(app.api, 'app', 'B', os1.layerId, { 'App\\x.txt': 'b' }, { App: 'Who=B' });
    // Throttled so that a copy lasts seconds (the image's VHDX file is about 200 MB): a kill lands mid-copy.
    share = await fileshareConnector(app.api, { maxMiBps: 20 });
    templateIds = [];
    for (let i = 0; i < PUBLISHES; i++) {
      templateIds.push(
        await template(app.api, {
          name: `Scale ${i}`,
          osVersionId: os1.versionId,
          appVersionIds: [a.versionId, b.versionId],
          connectorId: share.id,
        }),
      );
    }
    reference = await completed<PublishImageResult>(
      app.api,
      await app.api.post(`/api/templates/${templateIds[0]}/publish`),
    );
    // Big enough that a copy lasts 8 s or more at 20 MiB/s: the appliance worker's kill relies on it.
    const imageFile = path.join(share.mountPoint, `${reference.name}.vhdx`);
    expect(fs.statSync(imageFile).size).toBeGreaterThan(160 * 2 ** 20);
  }, 600_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w.child)));
    await app?.stop();
  });

  it(`${PUBLISHES} publishes and ${PACKAGINGS} packaging tasks complete, spread over the workers, with the reference's bytes`, async () => {
    const scaleOut = [spawnWorker(app, 'appliance', 2), spawnWorker(app, 'compose', 2)];
    workers.push(...scaleOut);
    await polling(app, scaleOut);
    const [appliance1, compose1, appliance2, compose2] = workers;

    // Packaging tasks first, up to the admin's step: they wait, parked, while the publishes run; the
    // kills then land where every activity in flight is a compose or a transfer (see below).
    const packagings = await Promise.all(
      Array.from({ length: PACKAGINGS }, async (_, i) => {
        const layerId = await createLayer(app.api, 'app', `Packaged ${i}`, os1.layerId);
        const started = await app.api.post(`/api/layers/${layerId}/versions/package`, {
          version: '1',
          connectorId: LOCAL_CONNECTOR,
          // The power watchers (one per appliance worker) end the wait, not this poll.
          powerPollSeconds: 3600,
        });
        expect(started.status).toBe(202);
        const action = await eventually(async () => {
          const versions = (await app.api.get(`/api/layers/${layerId}/versions`)).body.items;
          return versions[0]?.state === 'ActionRequired'
            ? (versions[0].action as PackagingAction)
            : undefined;
        }, 300_000);
        return { i, started, action };
      }),
    );

    // A burst of publishes, each of its own template: same layers, size and format, so the same bytes
    // (the template's name is in the image's name, never in its bytes). This test is about workers, not
    // about naming the images of one template published several times in one second (issue 15 §2).
    const publishes = await Promise.all(
      templateIds.map((id) => app.api.post(`/api/templates/${id}/publish`)),
    );
    const publishIds = publishes.map((p) => p.body.id as string);
    const taskIds = [...packagings.map((p) => p.started.body.id as string), ...publishIds];

    const completedBy = async (worker: WorkerProcess) =>
      (await Promise.all(taskIds.map((id) => activityRuns(app, id))))
        .flat()
        .some((r) => r.identity === worker.identity);

    // Kill -9 a compose worker mid-compose, once it has finished other work of these tasks.
    let composeVictim: WorkerProcess | undefined;
    await eventually(async () => {
      const running = await runningActivities(app, publishIds);
      for (const candidate of [compose1, compose2]) {
        const busy = running.some(
          (a) => a.identity === candidate.identity && a.type === 'composeImage' && a.heartbeats,
        );
        if (busy && (await completedBy(candidate))) {
          candidate.child.kill('SIGKILL');
          composeVictim = candidate;
          return true;
        }
      }
      return false;
    }, 300_000);

    // Kill -9 an appliance worker mid-copy. Its activities without heartbeats (records, scripts) have a
    // 15-minute start-to-close timeout and nothing else tells Temporal their worker died, so the kill is
    // timed for a moment when it runs nothing but copies and no copy is about to end (which would start
    // such an activity): at the share's 20 MiB/s a copy of the image lasts 8 s or more.
    let applianceVictim: WorkerProcess | undefined;
    await eventually(async () => {
      const running = await runningActivities(app, publishIds);
      const quiet =
        running.every((a) => a.type === 'composeImage' || HEARTBEATING.has(a.type)) &&
        running.filter((a) => a.type === 'copyImageToStore').every((a) => a.runningMs < 3000);
      if (!quiet) return false;
      for (const candidate of [appliance1, appliance2]) {
        const copying = running.some(
          (a) => a.identity === candidate.identity && a.type === 'copyImageToStore' && a.heartbeats,
        );
        if (copying && (await completedBy(candidate))) {
          candidate.child.kill('SIGKILL');
          applianceVictim = candidate;
          return true;
        }
      }
      return false;
    }, 300_000);
    // What the victim held at its death: only activities that a heartbeat timeout hands on.
    const held = (await runningActivities(app, taskIds)).filter(
      (a) => a.identity === applianceVictim!.identity,
    );
    expect(held.filter((a) => !HEARTBEATING.has(a.type))).toEqual([]);

    // The admin installs into each packaging VM and shuts it down; the surviving workers finish.
    const packaged = await Promise.all(
      packagings.map(async ({ i, started, action }) => {
        const installer = testDir(`installer-${i}`);
        fs.mkdirSync(path.join(installer, 'Program Files', `Tool ${i}`), { recursive: true });
        fs.writeFileSync(path.join(installer, 'Program Files', `Tool ${i}`, 'tool.exe'), `MZ tool ${i}`);
        const reg = path.join(testDir(`reg-${i}`), 'tool.reg');
        fs.writeFileSync(reg, regText({ [`Tool ${i}`]: 'Version=1' }));
        const lamina = (...args: string[]) =>
          exec(process.execPath, [
            path.join(projectRoot(), 'bin', 'lamina'),
            'vm',
            ...args,
            '--pool',
            vmPool,
          ]);
        await lamina('install', action.vm.name, '--from', installer, '--reg', reg);
        await lamina('shutdown', action.vm.name);
        return { i, result: await completed<{ diskPath: string; sha256: string }>(app.api, started) };
      }),
    );
    const published = await Promise.all(publishes.map((p) => completed<PublishImageResult>(app.api, p)));

    // Every image has the single-worker reference's bytes (same layers, size and format: the compositor is
    // reproducible; names and times are in the file name only), on the share as in the task's result.
    for (const result of published) {
      expect(result.sha256).toBe(reference.sha256);
      const { stdout } = await run('sha256sum', [path.join(share.mountPoint, `${result.name}.vhdx`)]);
      expect(stdout.split(' ')[0]).toBe(reference.sha256);
    }
    expect(new Set(published.map((r) => r.name)).size).toBe(PUBLISHES);
    for (const { i, result } of packaged) {
      expect(await catFromImage(result.diskPath, `\\Program Files\\Tool ${i}\\tool.exe`)).toBe(
        `MZ tool ${i}`,
      );
      const { stdout } = await run('sha256sum', [result.diskPath]);
      expect(stdout.split(' ')[0]).toBe(result.sha256);
    }

    // Spread, from history: each kind's activities ran on both of its workers, the killed ones included,
    // and the killed ones' last activities ran again elsewhere.
    const runs = (await Promise.all(taskIds.map((id) => activityRuns(app, id)))).flat();
    const ranOn = (queue: string) => new Set(runs.filter((r) => r.queue === queue).map((r) => r.identity));
    expect(ranOn(app.config.taskQueue)).toEqual(new Set([appliance1.identity, appliance2.identity]));
    expect(ranOn(app.config.compose.taskQueue)).toEqual(new Set([compose1.identity, compose2.identity]));
    const survivorOf = (victim: WorkerProcess) =>
      workers.find((w) => w.queue === victim.queue && w !== victim)!.identity;
    expect(runs.filter((r) => r.attempt > 1)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'composeImage', identity: survivorOf(composeVictim!) }),
        expect.objectContaining({ type: 'copyImageToStore', identity: survivorOf(applianceVictim!) }),
      ]),
    );

    // Nothing is left over: no scratch or work folder, no partial file on the share, no packaging VM, no
    // stored disk but the packaging cache's, nothing in the surviving workers' temporary folders.
    expect(filesUnder(app.config.scratchDir)).toEqual([]);
    expect(fs.readdirSync(share.mountPoint).sort()).toEqual(
      [reference, ...published].map((r) => `${r.name}.vhdx`).sort(),
    );
    expect(fs.readdirSync(path.join(vmPool, 'vms'))).toEqual([]);
    const { rows } = await app.stack.pool.query(`SELECT disk_path FROM packaging_cache_entries`);
    expect(filesUnder(path.join(vmPool, 'disks'))).toEqual(rows.map((r) => `${r.disk_path}.vhdx`).sort());
    for (const survivor of workers.filter((w) => w !== composeVictim && w !== applianceVictim)) {
      expect(fs.readdirSync(survivor.tmp)).toEqual([]);
    }
  }, 900_000);
});
