import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Pool } from 'pg';
import { createApiToken } from '../../api/auth/api-tokens';
import { BUILT_IN_ADMINISTRATOR } from '../../api/auth/identity';
import type { Task } from '../../api/tasks/task-service';
import { loadConfig } from '../../config/env';
import { revokeApiTokenNow } from '../../db/api-tokens';
import { UsageError, type CliCommand } from '../command';
import { runDemo } from '../demo';
import { serve } from './roles';

/**
 * `lamina up` asks its own API as the built-in administrator, through an API token that lives for this
 * run only (the administrator's password may be one the process never saw).
 */
async function withAdministratorToken<T>(
  pool: Pool,
  work: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const administrator = { name: BUILT_IN_ADMINISTRATOR, kind: 'local' as const, groups: [] };
  const { id, token } = await createApiToken(pool, administrator, 'lamina up', 1);
  try {
    return await work({ authorization: `Bearer ${token}` });
  } finally {
    await revokeApiTokenNow(pool, id);
  }
}

async function runDiagnostics(
  apiUrl: string,
  uiBase: string | undefined,
  headers: Record<string, string>,
): Promise<number> {
  const started = await fetch(`${apiUrl}/api/tasks/diagnostics`, { method: 'POST', headers });
  if (started.status !== 202)
    throw new Error(`starting diagnostics failed: HTTP ${started.status} ${await started.text()}`);
  const { id } = (await started.json()) as Task;
  console.log(`[lamina] diagnostics task ${id} started`);
  if (uiBase) console.log(`[lamina]   watch it: ${uiBase}/${encodeURIComponent(id)}`);
  let task: Task;
  do {
    const response = await fetch(`${apiUrl}/api/tasks/${encodeURIComponent(id)}/wait?timeout=30`, {
      headers,
    });
    task = (await response.json()) as Task;
  } while (task.state === 'running');
  const report = task.result as
    { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] } | undefined;
  for (const check of report?.checks ?? []) {
    console.log(`[lamina]   ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  }
  console.log(
    `[lamina] diagnostics ${task.state}${report ? (report.ok ? ', all checks passed' : ', some checks failed') : ''}`,
  );
  if (task.error) console.log(`[lamina]   error: ${task.error}`);
  return task.state === 'completed' && report?.ok ? 0 : 1;
}

export const upCommand: CliCommand = {
  usage: [
    'Usage: lamina up [--once]',
    '',
    'Starts what is not configured: a Temporal dev server (Web UI on LAMINA_TEMPORAL_UI_PORT, 8233)',
    'unless TEMPORAL_ADDRESS is set, a private PostgreSQL cluster under LAMINA_DATA_DIR unless',
    'DATABASE_URL is set; then migrations, the worker and the API (LAMINA_API_PORT, 8080).',
    'Runs a diagnostics task through the API and stays up until Ctrl-C (or SIGTERM), which stops',
    "everything it started, the data folder's PostgreSQL included. A second start reuses the data folder",
    '(task history, database); after a run that was killed, it stops the Temporal dev server that run',
    'left and adopts its PostgreSQL. A Temporal dev server that dies is restarted (with back-off; after',
    '5 quick failures in a row lamina up says why and exits with code 1).',
    '',
    'Then, on a fresh data folder, runs the demo: a synthetic gold image imported as an OS layer, an app',
    'layer made on a packaging machine, two conflicting layer-as-code app layers, a platform layer, and a',
    'UEFI VHDX image published to a folder standing in for a file share (LAMINA_DATA_DIR/share, bound',
    'at /mnt/lamina-demo-share while it publishes). The gold image goes into the first LAMINA_IMPORT_DIRS.',
    '',
    '  --once      stop after diagnostics and the demo instead of staying up',
    '  --no-demo   skip the demo',
  ].join('\n'),
  async run(args) {
    let values: { once?: boolean; 'no-demo'?: boolean };
    try {
      values = parseArgs({
        args,
        options: { once: { type: 'boolean' }, 'no-demo': { type: 'boolean' } },
      }).values;
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const { dataDir, importDirs } = loadConfig();
    return serve(
      { api: true, worker: true, embedded: true },
      (stack) =>
        withAdministratorToken(stack.pool, async (headers) => {
          const uiBase =
            stack.temporalUiUrl &&
            `${stack.temporalUiUrl}/namespaces/${stack.client.options.namespace}/workflows`;
          const healthy = await runDiagnostics(stack.apiUrl!, uiBase, headers);
          if (healthy !== 0 || values['no-demo']) return healthy;
          return runDemo({
            apiUrl: stack.apiUrl!,
            headers,
            dataDir,
            importDir: importDirs[0],
            storagePool: path.join(dataDir, 'pool'),
            uiBase,
            log: (line) => console.log(`[lamina] ${line}`),
          });
        }),
      !values.once,
    );
  },
};
