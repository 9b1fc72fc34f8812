import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { createApiToken } from '../api/auth/api-tokens';
import { BUILT_IN_ADMINISTRATOR } from '../api/auth/identity';
import type { Task } from '../api/tasks/task-service';
import { laminaClient } from '../cli/api-client';
import { compose } from '../compositor/compose';
import { makeGoldImage } from '../compositor/gold-image';
import { loadConfig } from '../config/env';
import { freePort, run, stopChild } from '../lib/processes';
import { projectRoot } from '../lib/project-root';
import { startStack, type Stack } from '../runtime/stack';
import type { LayerVersionResult } from '../workflows/layer-versions';
import type { PublishImageResult } from '../workflows/publish-image';
import { median } from './median';

/**
 * npm run bench:publish — what orchestration costs. (1) One publish through the API (task start,
 * compose on the compose queue, copy to a file share, hash, records) against the compositor alone on
 * the same layers, median of BENCH_RUNS (3); target: at most 1 s more. The median run's steps, from
 * its workflow history, say where the difference goes; the load average is printed with it.
 * (2) BENCH_CONCURRENT (20) publishes of small images started at once against one `lamina worker`
 * process: all must complete; wall time and the worker's peak RSS are printed. Embedded Temporal and
 * Postgres in a scratch folder; BENCH_TIMEOUT_S (900) bounds the whole run.
 */

const RUNS = Number(process.env.BENCH_RUNS ?? '3');
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? '20');
const GiB = 2 ** 30;

async function seconds<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - started) / 1e9];
}

/**
 * Where a task's time went, from its workflow history: each activity from scheduled to closed, in
 * order, and what is left between them (workflow tasks, the worker picking the next step up).
 */
async function steps(stack: Stack, taskId: string): Promise<string> {
  const history = await stack.client.workflow.getHandle(taskId).fetchHistory();
  const events = history.events ?? [];
  const ms = (event: (typeof events)[number]) =>
    Number(event.eventTime?.seconds ?? 0) * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;
  const scheduled = new Map<number, { name: string; at: number }>();
  const parts: string[] = [];
  let inActivities = 0;
  for (const event of events) {
    const activity = event.activityTaskScheduledEventAttributes;
    if (activity)
      scheduled.set(Number(event.eventId), { name: activity.activityType?.name ?? '?', at: ms(event) });
    const closed =
      event.activityTaskCompletedEventAttributes ??
      event.activityTaskFailedEventAttributes ??
      event.activityTaskTimedOutEventAttributes;
    const step = closed && scheduled.get(Number(closed.scheduledEventId));
    if (step) {
      inActivities += ms(event) - step.at;
      parts.push(`${step.name} ${((ms(event) - step.at) / 1000).toFixed(2)}`);
    }
  }
  const total = events.length > 0 ? ms(events[events.length - 1]) - ms(events[0]) : 0;
  return `${parts.join(', ')}; between steps ${((total - inActivities) / 1000).toFixed(2)} s`;
}

/** Peak resident set of a process, from the kernel's high-water mark. */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'lamina-bench-publish-'));
  await fs.chmod(root, 0o755); // the private Postgres runs unprivileged when this runs as root
  const config = loadConfig({
    ...process.env,
    LAMINA_DATA_DIR: path.join(root, 'data'),
    LAMINA_API_PORT: '0',
    LAMINA_TEMPORAL_PORT: String(await freePort()),
    LAMINA_TEMPORAL_UI_PORT: String(await freePort()),
    LAMINA_TASK_QUEUE: `bench-${randomBytes(4).toString('hex')}`,
  });
  const stack = await startStack(config, { api: true, worker: false, embedded: true });
  const share = path.join(root, 'share');
  const worker = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'worker'], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      DATABASE_URL: stack.databaseUrl,
      LAMINA_DATA_DIR: config.dataDir,
      LAMINA_TASK_QUEUE: config.taskQueue,
      LAMINA_COMPOSE_TASK_QUEUE: config.compose.taskQueue,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let stopping = false;
  worker.once('exit', (code, signal) => {
    if (!stopping)
      console.error(`the lamina worker exited (${signal ?? `code ${code}`}) during the benchmark`);
  });
  try {
    const administrator = { name: BUILT_IN_ADMINISTRATOR, kind: 'local' as const, groups: [] };
    const { token } = await createApiToken(stack.pool, administrator, 'bench', 1);
    const api = laminaClient(stack.apiUrl!, { authorization: `Bearer ${token}` });
    // A stalled run (an overloaded machine, a dead worker) ends the benchmark instead of hanging it.
    const deadline = Date.now() + Number(process.env.BENCH_TIMEOUT_S ?? '900') * 1000;
    const finished = async <T>(task: Task): Promise<T> => {
      const done = await api.waitForTask(task.id, deadline);
      if (done.state !== 'completed') throw new Error(`task ${task.id} ${done.state}: ${done.error}`);
      return done.result as T;
    };

    await fs.mkdir(config.importDirs[0], { recursive: true });
    const gold = path.join(config.importDirs[0], 'gold.vhdx');
    await makeGoldImage({ out: gold, firmware: 'uefi', size: GiB, format: 'vhdx' });
    const osLayer = await api.post<{ id: string }>('/api/layers', { type: 'os', name: 'Bench OS' });
    const os = await finished<LayerVersionResult>(
      await api.post(`/api/layers/${osLayer.id}/versions/import`, {
        version: '1',
        source: { diskPath: gold },
      }),
    );
    const apps: LayerVersionResult[] = [];
    for (const name of ['Bench App 1', 'Bench App 2']) {
      const files = path.join(root, name, 'Program Files', name);
      await fs.mkdir(files, { recursive: true });
      await fs.writeFile(path.join(files, 'app.bin'), randomBytes(8 * 2 ** 20));
      const layer = await api.post<{ id: string }>('/api/layers', {
        type: 'app',
        name,
        osLayerId: osLayer.id,
      });
      const zip = path.join(root, `${name}.zip`);
      await new Promise<void>((resolve, reject) =>
        spawn('zip', ['-qr', zip, '.'], { cwd: path.join(root, name) }).on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`zip exited with ${code}`)),
        ),
      );
      const content = await api.upload(zip);
      apps.push(
        await finished<LayerVersionResult>(
          await api.post(`/api/layers/${layer.id}/versions/build`, { version: '1', content }),
        ),
      );
    }
    // A file share connector writes only into a mount point: the folder is bound onto itself.
    await fs.mkdir(share);
    await run('mount', ['--bind', share, share]);
    const connector = await api.post<{ id: string }>('/api/connectors', {
      type: 'fileshare',
      name: 'Bench share',
      settings: { path: '\\\\bench\\images', mountPoint: share },
    });
    const template = (name: string) =>
      api.post<{ id: string }>('/api/templates', {
        name,
        osVersionId: os.versionId,
        appVersionIds: apps.map((a) => a.versionId),
        connectorId: connector.id,
        diskSizeGb: 2,
        diskFormat: 'VHDX',
        firmware: 'UEFI',
      });

    // (1) Overhead: the same composition through the API and through the compositor alone.
    const single = await template('Bench');
    const throughApi: number[] = [];
    const alone: number[] = [];
    const taskIds: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const [, apiSeconds] = await seconds(async () => {
        const task = await api.post<Task>(`/api/templates/${single.id}/publish`, {});
        taskIds.push(task.id);
        return finished<PublishImageResult>(task);
      });
      throughApi.push(apiSeconds);
      const out = path.join(root, `alone-${run}.vhdx`);
      const [, composeSeconds] = await seconds(() =>
        compose({
          os: os.diskPath,
          apps: apps.map((a) => a.diskPath),
          size: 2 * GiB,
          firmware: 'uefi',
          format: 'vhdx',
          out,
        }),
      );
      alone.push(composeSeconds);
      await fs.rm(out);
      // Same second, same template, same name: wait so the next run's image gets its own name.
      await new Promise((r) => setTimeout(r, 1000));
    }
    const overhead = median(throughApi) - median(alone);
    console.log(
      `publish through the API: ${median(throughApi).toFixed(2)} s; compositor alone: ${median(alone).toFixed(2)} s; ` +
        `orchestration overhead: ${overhead.toFixed(2)} s (target <= 1 s: ${overhead <= 1 ? 'met' : 'MISSED'}) ` +
        `[median of ${RUNS}; 1-minute load average ${loadavg()[0].toFixed(1)}]`,
    );
    // The steps of the run whose time was the median (the median itself when RUNS is odd).
    const middle = throughApi.indexOf(
      [...throughApi].sort((a, b) => a - b)[Math.floor((throughApi.length - 1) / 2)],
    );
    console.log(`  its steps (s): ${await steps(stack, taskIds[middle])}`);

    // (2) Many at once on one worker.
    const templates: { id: string }[] = [];
    for (let i = 0; i < CONCURRENT; i++)
      templates.push(await template(`Bench-${String(i + 1).padStart(2, '0')}`));
    const [results, wall] = await seconds(async () => {
      const tasks = await Promise.all(
        templates.map((t) => api.post<Task>(`/api/templates/${t.id}/publish`, {})),
      );
      return Promise.allSettled(tasks.map((t) => finished<PublishImageResult>(t)));
    });
    const completedCount = results.filter((r) => r.status === 'fulfilled').length;
    console.log(
      `${CONCURRENT} concurrent publishes on one worker (compose concurrency ${config.compose.concurrency}): ` +
        `${completedCount}/${CONCURRENT} completed in ${wall.toFixed(1)} s wall; worker peak RSS ${peakRssMiB(worker.pid!).toFixed(0)} MiB`,
    );
    if (completedCount !== CONCURRENT) process.exitCode = 1;
  } finally {
    stopping = true;
    await stopChild(worker);
    await stack.stop();
    await run('umount', [share]).catch(() => undefined); // not mounted when the run failed before
    if (!process.env.BENCH_KEEP) await fs.rm(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
