import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import { getConnector, getConnectorSecrets, listConnectors } from '../db/connectors';
import { databaseStatus } from '../db/migrate';
import type { SecretBox } from '../config/secret-box';
import { run } from '../lib/processes';

/** One line of the diagnostics report: what was checked, whether it passed, and what the admin should know. */
export interface DiagnosticCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DiagnosticsDeps {
  pool: Pool;
  /** Opens connector secrets (a vCenter password) for the connector checks. */
  secrets: SecretBox;
  repositoryDir: string;
  repositoryMinFreeBytes: number;
  /** Size of the write probe; the repository's write throughput is measured with it. */
  diagnosticsProbeBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/**
 * Diagnostics activities: each reports a failed check as a result (the task succeeds and lists it) and
 * only throws for infrastructure faults that a retry can cure.
 */
export function createDiagnosticsActivities(deps: DiagnosticsDeps) {
  return {
    async checkDatabase(): Promise<DiagnosticCheck> {
      try {
        const { version, migrations } = await databaseStatus(deps.pool);
        return {
          name: 'database',
          ok: true,
          detail: `PostgreSQL ${version} reachable, ${migrations} migrations applied`,
        };
      } catch (err) {
        return { name: 'database', ok: false, detail: `PostgreSQL: ${(err as Error).message}` };
      }
    },

    /** Writes a probe file (heartbeating its progress), measures throughput and checks free space. */
    async checkRepository(): Promise<DiagnosticCheck> {
      const dir = deps.repositoryDir;
      const total = deps.diagnosticsProbeBytes;
      // One name per task (activity ids repeat across workflows), the same across retries so a retry
      // overwrites what a crashed attempt left.
      const { workflowExecution, activityRunId, activityId } = Context.current().info;
      const owner = workflowExecution?.workflowId ?? activityRunId;
      const probe = path.join(dir, `.diagnostics-probe-${owner}-${activityId}`);
      try {
        await fs.mkdir(dir, { recursive: true });
        const chunk = Buffer.alloc(4 * MiB, 0xa5);
        const started = process.hrtime.bigint();
        const file = await fs.open(probe, 'w');
        try {
          for (let done = 0; done < total; done += chunk.length) {
            const length = Math.min(chunk.length, total - done);
            await file.write(chunk, 0, length, done);
            Context.current().heartbeat({ phase: 'write-probe', done: done + length, total });
          }
          await file.sync();
        } finally {
          await file.close();
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const stats = await fs.statfs(dir);
        const free = stats.bavail * stats.bsize;
        const throughput = `${(total / MiB / Math.max(seconds, 1e-6)).toFixed(0)} MiB/s`;
        if (free < deps.repositoryMinFreeBytes) {
          return {
            name: 'repository',
            ok: false,
            detail: `${dir} is writable (${throughput}) but only ${formatGiB(free)} free; at least ${formatGiB(deps.repositoryMinFreeBytes)} is required (LAMINA_REPOSITORY_MIN_FREE_GIB)`,
          };
        }
        return {
          name: 'repository',
          ok: true,
          detail: `${dir} writable at ${throughput}, ${formatGiB(free)} free`,
        };
      } catch (err) {
        return { name: 'repository', ok: false, detail: `${dir}: ${(err as Error).message}` };
      } finally {
        // When the folder itself is broken there is no probe to remove; that failure is reported above.
        await fs.rm(probe, { force: true }).catch(() => undefined);
      }
    },

    /** The native pieces the compositor and disk tools rely on. */
    async checkToolchain(): Promise<DiagnosticCheck> {
      const found: string[] = [];
      const missing: string[] = [];
      try {
        found.push((await run('qemu-img', ['--version'])).split('\n')[0].trim());
      } catch {
        missing.push('qemu-img (package qemu-utils)');
      }
      const libraries = await run('ldconfig', ['-p']).catch(() => '');
      for (const [lib, pkg] of [
        ['libntfs-3g.so', 'ntfs-3g-dev'],
        ['libhivex.so', 'libhivex-dev'],
      ]) {
        if (libraries.includes(lib)) found.push(lib);
        else missing.push(`${lib} (package ${pkg})`);
      }
      return missing.length === 0
        ? { name: 'toolchain', ok: true, detail: found.join('; ') }
        : { name: 'toolchain', ok: false, detail: `missing: ${missing.join(', ')}; run scripts/setup` };
    },

    async listConnectorIds(): Promise<string[]> {
      return (await listConnectors(deps.pool)).map((c) => c.id);
    },

    async checkConnector(id: string): Promise<DiagnosticCheck> {
      const record = await getConnector(deps.pool, id);
      if (!record) return { name: `connector ${id}`, ok: false, detail: 'connector no longer exists' };
      const name = `connector '${record.name}' (${record.type})`;
      try {
        const secrets = await getConnectorSecrets(deps.pool, deps.secrets, id);
        const checks = await createConnector(record, secrets).test();
        const failed = checks.filter((c) => !c.ok);
        const detail = (failed.length ? failed : checks)
          .map((c) => (c.field ? `${c.field}: ${c.message}` : c.message))
          .join('; ');
        return { name, ok: failed.length === 0, detail };
      } catch (err) {
        return { name, ok: false, detail: (err as Error).message };
      }
    },
  };
}

export type DiagnosticsActivities = ReturnType<typeof createDiagnosticsActivities>;
