import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../../api/tasks/task-service';
import { extractWindowsPartition } from '../../compositor/disk-image';
import { makeGoldImage } from '../../compositor/gold-image';
import type { LaminaConfig } from '../../config/env';
import { DEFAULT_LOCAL_CONNECTOR_ID } from '../../db/connectors';
import type { Stack } from '../../runtime/stack';
import { administratorClient, type ApiClient } from '../api-client';
import {
  createTestDatabase,
  importDir,
  mountedDir,
  startTestStack,
  testConfig,
  testDir,
  type TestDatabase,
} from '../harness';

export { eventually } from '../harness';

export const run = promisify(execFile);
export const GiB = 2 ** 30;
export const LOCAL_CONNECTOR = DEFAULT_LOCAL_CONNECTOR_ID;

/** One test file's appliance: its own database and task queues, API and (unless told) worker in-process. */
export interface Appliance {
  db: TestDatabase;
  config: LaminaConfig;
  stack: Stack;
  api: ApiClient;
  stop(): Promise<void>;
}

export async function startAppliance(
  options: { worker?: boolean; env?: Record<string, string> } = {},
): Promise<Appliance> {
  const db = await createTestDatabase();
  const config = testConfig(db.url, options.env);
  const stack = await startTestStack(config, { worker: options.worker ?? true });
  const api = await administratorClient(stack);
  return {
    db,
    config,
    stack,
    api,
    async stop() {
      await stack.stop();
      await db.drop();
    },
  };
}

/** A synthetic Windows gold image: 1 GiB, UEFI, sparse VHDX. */
export async function goldImage(): Promise<string> {
  const out = path.join(importDir('gold'), 'gold.vhdx');
  await makeGoldImage({ out, firmware: 'uefi', size: GiB, format: 'vhdx' });
  return out;
}

/** Waits for a task started through the API to close and returns it. */
export async function finished(
  api: ApiClient,
  started: { status: number; body: Task; text: string },
): Promise<Task> {
  if (started.status !== 202) throw new Error(`task did not start: ${started.status} ${started.text}`);
  let task: Task;
  do {
    task = (await api.get(`/api/tasks/${started.body.id}/wait?timeout=30`)).body as Task;
  } while (task.state === 'running');
  return task;
}

export async function completed<T>(
  api: ApiClient,
  started: { status: number; body: Task; text: string },
): Promise<T> {
  const task = await finished(api, started);
  if (task.state !== 'completed') throw new Error(`task ${task.id} ${task.state}: ${task.error}`);
  return task.result as T;
}

/** The attempt number of the last run of `activity` in the task's workflow history (0: it never started). */
export async function attemptsOf(app: Appliance, taskId: string, activity: string): Promise<number> {
  const history = await app.stack.client.workflow.getHandle(taskId).fetchHistory();
  const scheduled = new Map<string, string>();
  let attempts = 0;
  for (const event of history.events ?? []) {
    const type = event.activityTaskScheduledEventAttributes?.activityType?.name;
    if (type) scheduled.set(String(event.eventId), type);
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === activity) {
      attempts = Math.max(attempts, started.attempt ?? 1);
    }
  }
  return attempts;
}

export async function createLayer(
  api: ApiClient,
  type: 'os' | 'app' | 'platform',
  name: string,
  osLayerId?: string,
): Promise<string> {
  const created = await api.post('/api/layers', { type, name, osLayerId });
  if (created.status !== 201) throw new Error(`creating layer ${name}: ${created.text}`);
  return created.body.id as string;
}

export async function upload(api: ApiClient, file: string): Promise<string> {
  const response = await fetch(`${api.baseUrl}/api/uploads`, {
    method: 'POST',
    headers: { ...api.headers, 'content-type': 'application/octet-stream' },
    body: fs.readFileSync(file),
  });
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/** A layer-as-code package: files (Windows path → content) zipped, plus an optional .reg file. */
export async function appPackage(
  files: Record<string, string>,
  reg?: Record<string, string>,
): Promise<{ zip: string; reg?: string }> {
  const dir = testDir('package');
  const tree = path.join(dir, 'tree');
  for (const [windowsPath, content] of Object.entries(files)) {
    const file = path.join(tree, ...windowsPath.split('\\'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  const zip = path.join(dir, 'package.zip');
  await run('zip', ['-qr', zip, '.'], { cwd: tree });
  if (!reg) return { zip };
  const regFile = path.join(dir, 'package.reg');
  fs.writeFileSync(regFile, regText(reg));
  return { zip, reg: regFile };
}

/** HKLM\SOFTWARE values as a .reg file: `Key\Sub` → `Name=Value` pairs. */
export function regText(values: Record<string, string>): string {
  const lines = ['Windows Registry Editor Version 5.00', ''];
  for (const [key, assignment] of Object.entries(values)) {
    const [name, value] = assignment.split('=');
    lines.push(`[HKEY_LOCAL_MACHINE\\SOFTWARE\\${key}]`, `"${name}"="${value}"`, '');
  }
  return lines.join('\r\n');
}

/** Reads a file from the Windows partition of a disk image of any format, with ntfs-3g's own ntfscat. */
export async function catFromImage(image: string, windowsPath: string): Promise<string> {
  const partition = path.join(testDir('partition'), 'windows.ntfs');
  await extractWindowsPartition(image, partition);
  try {
    const { stdout } = await run('ntfscat', [partition, windowsPath.replace(/\\/g, '/')], {
      encoding: 'buffer',
    } as never);
    return stdout.toString();
  } finally {
    fs.rmSync(partition, { force: true });
  }
}

/** Every file under `dir` (relative paths), to assert nothing is left behind. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

/** Imports the gold image as an OS layer version through the API; returns the layer and version ids. */
export async function importedOs(
  api: ApiClient,
  gold: string,
  name = 'Windows 11',
): Promise<{ layerId: string; versionId: string }> {
  const layerId = await createLayer(api, 'os', name);
  const result = await completed<{ versionId: string }>(
    api,
    await api.post(`/api/layers/${layerId}/versions/import`, { version: '1', source: { diskPath: gold } }),
  );
  return { layerId, versionId: result.versionId };
}

/** Builds an app or platform layer version from files through upload + the layer-as-code task. */
export async function builtLayer(
  api: ApiClient,
  type: 'app' | 'platform',
  name: string,
  osLayerId: string,
  files: Record<string, string>,
  reg?: Record<string, string>,
  /** First-start scripts (path → content), run by the images the layer is composed into. */
  scripts?: Record<string, string>,
): Promise<{ layerId: string; versionId: string; sha256: string }> {
  const layerId = await createLayer(api, type, name, osLayerId);
  const pkg = await appPackage(files, reg);
  const content = await upload(api, pkg.zip);
  const regId = pkg.reg ? await upload(api, pkg.reg) : undefined;
  const scriptsId = scripts ? await upload(api, (await appPackage(scripts)).zip) : undefined;
  const result = await completed<{ versionId: string; sha256: string }>(
    api,
    await api.post(`/api/layers/${layerId}/versions/build`, {
      version: '1',
      content,
      reg: regId,
      scripts: scriptsId,
    }),
  );
  return { layerId, ...result };
}

/** A fileshare connector writing into a fresh mount point that stands in for the mounted share. */
export async function fileshareConnector(
  api: ApiClient,
  options: { maxMiBps?: number; postPublishScript?: string } = {},
): Promise<{ id: string; mountPoint: string }> {
  const mountPoint = mountedDir('share');
  const created = await api.post('/api/connectors', {
    type: 'fileshare',
    name: `Share ${path.basename(mountPoint)}`,
    settings: {
      path: '\\\\files\\images',
      mountPoint,
      ...(options.maxMiBps ? { maxMiBps: options.maxMiBps } : {}),
    },
    ...(options.postPublishScript ? { postPublishScript: options.postPublishScript } : {}),
  });
  if (created.status !== 201) throw new Error(`creating fileshare connector: ${created.text}`);
  return { id: created.body.id, mountPoint };
}

export async function template(
  api: ApiClient,
  fields: {
    name: string;
    osVersionId: string;
    appVersionIds?: string[];
    platformVersionId?: string;
    connectorId: string;
    diskSizeGb?: number;
  },
): Promise<string> {
  const created = await api.post('/api/templates', {
    diskSizeGb: 2,
    diskFormat: 'VHDX',
    firmware: 'UEFI',
    ...fields,
  });
  if (created.status !== 201) throw new Error(`creating template: ${created.text}`);
  return created.body.id as string;
}
