import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LaminaConfig } from '../../config/env';
import { projectRoot } from '../../lib/project-root';
import { harnessValue } from './shared';

/**
 * A `lamina worker` process (the compiled CLI, as a deployment runs it) for `config`'s queues and data,
 * so a test can kill it like a crashing host. It gets only what a worker needs, plus `env`; its output
 * goes to `logFile`. Temporal is the harness's unless `temporalAddress` names another server.
 */
export function spawnWorkerProcess(options: {
  config: LaminaConfig;
  databaseUrl: string;
  logFile: string;
  temporalAddress?: string;
  env?: Record<string, string>;
}): ChildProcess {
  const { config } = options;
  const log = fs.openSync(options.logFile, 'a');
  try {
    return spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'worker'], {
      env: {
        PATH: process.env.PATH,
        TEMPORAL_ADDRESS: options.temporalAddress ?? harnessValue('temporalAddress'),
        DATABASE_URL: options.databaseUrl,
        LAMINA_TASK_QUEUE: config.taskQueue,
        LAMINA_COMPOSE_TASK_QUEUE: config.compose.taskQueue,
        LAMINA_DATA_DIR: config.dataDir,
        ...options.env,
      },
      stdio: ['ignore', log, log],
    });
  } finally {
    fs.closeSync(log);
  }
}
