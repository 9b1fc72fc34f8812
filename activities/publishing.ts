import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { postPublishScriptOf } from '../db/connectors';
import { claimImageName } from '../db/image-names';
import { loadPublishPlan, type PublishPlan } from '../db/publish-plans';
import { deletePublishedImage, recordPublishedImage, type PublishedImage } from '../db/published-images';
import { readReport } from '../compositor/report-file';
import { conflictReportPath } from './conflict-reports';
import type { FileDigest } from './file-digest';
import { withConnector, withImageStore, type ConnectorAccessDeps } from './connector-access';
import { run, signalGroup } from '../lib/processes';
import { heartbeatProgress, previousResumeToken } from './heartbeat';
import { removeWithLeftovers } from './leftovers';

/** Preset variables of the post-publish script, so one script serves every template and connector. */
export interface PostPublishVariables {
  LAMINA_IMAGE_NAME: string;
  LAMINA_IMAGE_PATH: string;
  LAMINA_IMAGE_SHA256: string;
  LAMINA_TEMPLATE_NAME: string;
  LAMINA_CONNECTOR_NAME: string;
  LAMINA_CONNECTOR_TYPE: string;
  /** MCS master images: the VM and its snapshot. */
  LAMINA_VM_NAME?: string;
  LAMINA_SNAPSHOT_NAME?: string;
}

export interface PostPublishResult {
  ran: boolean;
  exitCode?: number;
  /**
   * The script's last output (stdout and stderr as they came), for the task's result and the image record;
   * the API shows it to connector admins only (api/tasks/tasks-router.ts).
   */
  output?: string;
}

const SCRIPT_TIMEOUT_MS = 10 * 60_000;
const OUTPUT_TAIL = 4096;

/**
 * Who post-publish scripts run as when Lamina runs as root: `nobody`, which owns nothing of Lamina's. Not
 * the cluster's user `lamina`: that one owns the database files and their password
 * (runtime/postgres-cluster.ts). Lamina not running as root cannot change user; the script then runs as
 * Lamina's own, already unprivileged, user.
 */
export const POST_PUBLISH_USER = 'nobody';

async function scriptUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([
    run('id', ['-u', POST_PUBLISH_USER]),
    run('id', ['-g', POST_PUBLISH_USER]),
  ]);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Runs a post-publish script as POST_PUBLISH_USER in a scratch folder of its own (removed after), with
 * the preset variables, PATH, and HOME/TMPDIR pointing at the scratch folder as its whole environment:
 * nothing of Lamina's (DATABASE_URL, TEMPORAL_API_KEY, LAMINA_ADMIN_PASSWORD, LAMINA_MASTER_KEY) reaches it.
 */
async function runPostPublish(script: string, variables: PostPublishVariables): Promise<PostPublishResult> {
  const user = await scriptUser();
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'lamina-post-publish-'));
  try {
    if (user) await fs.chown(scratch, user.uid, user.gid);
    const child = spawn('bash', ['-c', script], {
      cwd: scratch,
      env: { PATH: process.env.PATH, HOME: scratch, TMPDIR: scratch, ...variables },
      uid: user?.uid,
      gid: user?.gid,
      detached: true, // a process group of its own: killing it kills what the script started too
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (output = (output + chunk).slice(-OUTPUT_TAIL)));
    }
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), SCRIPT_TIMEOUT_MS);
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code ?? -1));
    }).finally(() => clearTimeout(timer));
    // Background processes the script started would hold its output open and keep using the scratch folder.
    signalGroup(child.pid!, 'SIGKILL');
    await closed;
    return { ran: true, exitCode, output };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

export function createPublishingActivities(deps: ConnectorAccessDeps & { repositoryDir: string }) {
  return {
    /** The template's publish plan and how its connector takes an image: as a file, or as a VM (MCS master image). */
    async planPublish(templateId: string): Promise<PublishPlan & { delivery: 'file' | 'vm' }> {
      const plan = await loadPublishPlan(deps.pool, templateId);
      const delivery = await withConnector(deps, plan.connector.id, async (connector) =>
        connector.images ? 'file' : connector.vms ? 'vm' : undefined,
      );
      if (delivery) return { ...plan, delivery };
      throw ApplicationFailure.nonRetryable(
        `connector '${plan.connector.name}' (${plan.connector.type}) cannot take published images`,
        'ConnectorNotCapable',
      );
    },

    /**
     * The image's name, reserved for this task: `stamped` unless another publish took it (one template
     * published twice in the same second), then with a suffix. A retry gets the same name.
     */
    async reserveImageName(imageId: string, stamped: string): Promise<string> {
      return claimImageName(deps.pool, imageId, stamped);
    },

    /**
     * Copies the image to the connector's store, resuming from the last heartbeat's byte offset, and
     * answers its digest, hashed as it was copied (a publish to a share reads its image once).
     */
    async copyImageToStore(
      connectorId: string,
      source: string,
      fileName: string,
    ): Promise<{ path: string; location: string } & FileDigest> {
      const beat = heartbeatProgress<number>('copy');
      const signal = Context.current().cancellationSignal;
      const resumeFrom = previousResumeToken<number>() ?? 0;
      // Worth a warning: an earlier attempt died mid-copy (worker crash or timeout).
      if (resumeFrom > 0)
        Context.current().log.warn(`resuming the copy of ${fileName} at byte ${resumeFrom}`);
      return withImageStore(deps, connectorId, async (store) => {
        const stored = await store
          .putImage(source, fileName, {
            resumeFrom,
            onProgress: ({ done, total }) => beat({ done, total, resume: done }),
            signal,
          })
          .catch((err: unknown) => {
            // Stopped: report it as a cancellation, which is not retried; the workflow's compensation removes the partial file.
            throw signal.aborted ? new CancelledFailure('copy stopped') : err;
          });
        return { ...stored, location: store.locationOf(fileName) };
      });
    },

    async removeImageFromStore(connectorId: string, fileName: string): Promise<void> {
      await withImageStore(deps, connectorId, (store) => store.removeImage(fileName));
    },

    /**
     * Records the image with its full conflict report, read from the repository by id (`reportId`, the
     * compose's). Tasks started before reports were stored by id pass the report's path on the worker
     * that composed it (`reportPath`).
     */
    async recordPublishedImage(
      image: Omit<PublishedImage, 'conflictReport'> & { reportId?: string; reportPath?: string },
    ): Promise<void> {
      const { reportId, reportPath, ...rest } = image;
      const file = reportId ? conflictReportPath(deps.repositoryDir, reportId) : reportPath;
      if (!file)
        throw new Error(`published image ${image.id}: no conflict report given (reportId or reportPath)`);
      const report = await readReport(file);
      await recordPublishedImage(deps.pool, { ...rest, conflictReport: report.conflicts });
    },

    /** Compensation of a compose stored by id: its report goes; none there is fine. */
    async removeConflictReport(reportId: string): Promise<void> {
      await removeWithLeftovers(conflictReportPath(deps.repositoryDir, reportId));
    },

    async forgetPublishedImage(id: string): Promise<void> {
      await deletePublishedImage(deps.pool, id);
    },

    /** Runs the connector's post-publish script, if it has one, unprivileged, with the preset variables (runPostPublish). */
    async runPostPublishScript(
      connectorId: string,
      variables: PostPublishVariables,
    ): Promise<PostPublishResult> {
      const script = await postPublishScriptOf(deps.pool, connectorId);
      if (!script) return { ran: false };
      return runPostPublish(script, variables);
    },
  };
}

export type PublishingActivities = ReturnType<typeof createPublishingActivities>;
