import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ComposeReport } from '../compositor/compose';
import { loadPublishPlan, PublishPlanError, type PublishPlan } from '../db/publish-plans';
import { deletePublishedImage, recordPublishedImage, type PublishedImage } from '../db/published-images';
import { withConnector, withImageStore, type ConnectorAccessDeps } from './connector-access';
import { heartbeatProgress, previousResumeToken } from './heartbeat';

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
  /** The script's last output lines, for the task's result and the image record. */
  output?: string;
}

const SCRIPT_TIMEOUT_MS = 10 * 60_000;
const OUTPUT_TAIL = 4096;

export function createPublishingActivities(deps: ConnectorAccessDeps) {
  return {
    /** The template's publish plan and how its connector takes an image: as a file, or as a VM (MCS master image). */
    async planPublish(templateId: string): Promise<PublishPlan & { delivery: 'file' | 'vm' }> {
      try {
        const plan = await loadPublishPlan(deps.pool, templateId);
        const delivery = await withConnector(deps, plan.connector.id, async (connector) =>
          connector.images ? 'file' : connector.vms ? 'vm' : undefined,
        );
        if (delivery) return { ...plan, delivery };
        throw ApplicationFailure.nonRetryable(
          `connector '${plan.connector.name}' (${plan.connector.type}) cannot take published images`,
          'ConnectorNotCapable',
        );
      } catch (err) {
        if (err instanceof PublishPlanError)
          throw ApplicationFailure.nonRetryable(err.message, 'TemplateNotPublishable');
        throw err;
      }
    },

    /** Copies the image to the connector's store, resuming from the last heartbeat's byte offset. */
    async copyImageToStore(
      connectorId: string,
      source: string,
      fileName: string,
    ): Promise<{ path: string; location: string }> {
      const beat = heartbeatProgress<number>('copy');
      const signal = Context.current().cancellationSignal;
      const resumeFrom = previousResumeToken<number>() ?? 0;
      // Worth a warning: an earlier attempt died mid-copy (worker crash or timeout).
      if (resumeFrom > 0)
        Context.current().log.warn(`resuming the copy of ${fileName} at byte ${resumeFrom}`);
      return withImageStore(deps, connectorId, async (store) => {
        const path = await store
          .putImage(source, fileName, {
            resumeFrom,
            onProgress: ({ done, total }) => beat({ done, total, resume: done }),
            signal,
          })
          .catch((err: unknown) => {
            // Stopped: report it as a cancellation, which is not retried; the workflow's compensation removes the partial file.
            throw signal.aborted ? new CancelledFailure('copy stopped') : err;
          });
        return { path, location: store.locationOf(fileName) };
      });
    },

    async removeImageFromStore(connectorId: string, fileName: string): Promise<void> {
      await withImageStore(deps, connectorId, (store) => store.removeImage(fileName));
    },

    async recordPublishedImage(
      image: Omit<PublishedImage, 'conflictReport'> & { reportPath: string },
    ): Promise<void> {
      const { reportPath, ...rest } = image;
      const report = JSON.parse(await fs.readFile(reportPath, 'utf8')) as ComposeReport;
      await recordPublishedImage(deps.pool, { ...rest, conflictReport: report.conflicts });
    },

    async forgetPublishedImage(id: string): Promise<void> {
      await deletePublishedImage(deps.pool, id);
    },

    /** Runs the connector's post-publish script, if it has one, with the preset variables in its environment. */
    async runPostPublishScript(
      connectorId: string,
      variables: PostPublishVariables,
    ): Promise<PostPublishResult> {
      const { rows } = await deps.pool.query<{ script: string | null }>(
        'SELECT post_publish_script AS script FROM connectors WHERE id = $1',
        [connectorId],
      );
      const script = rows[0]?.script;
      if (!script) return { ran: false };
      return new Promise((resolve) => {
        execFile(
          'bash',
          ['-c', script],
          {
            env: { PATH: process.env.PATH, ...variables },
            timeout: SCRIPT_TIMEOUT_MS,
            maxBuffer: 16 * 2 ** 20,
          },
          (err, stdout, stderr) => {
            const output = `${stdout}${stderr}`.slice(-OUTPUT_TAIL);
            const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
            resolve({ ran: true, exitCode, output });
          },
        );
      });
    },
  };
}

export type PublishingActivities = ReturnType<typeof createPublishingActivities>;
