import {
  ActivityCancellationType,
  defineSignal,
  proxyActivities,
  setHandler,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { ElasticSyncActivities } from '../activities/elastic-sync';
import { withSaga } from './saga';

export interface ElasticSyncInput {
  shareId: string;
}

export interface ElasticSyncResult {
  /** How many passes ran: requests that arrived during a pass are served together by one more. */
  passes: number;
  generation: string;
  layers: number;
  copied: number;
  removed: string[];
  /** Assigned versions not delivered because they are no longer Deployable. */
  skipped: string[];
  /** Copies that went on from where an interrupted attempt stopped (a dead worker, a full share). */
  resumed: { versionId: string; fromByte: number }[];
}

/** Sent (with signal-with-start) for every sync request; the running task takes it as one more pass. */
export const elasticSyncRequested = defineSignal('elasticSyncRequested');

/** The task's workflow id: one per share, so requests for a share meet the sync already running. */
export function elasticSyncWorkflowId(shareId: string): string {
  return `elasticSync-${shareId}`;
}

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 30,
};

const records = proxyActivities<ElasticSyncActivities>({
  startToCloseTimeout: '15 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** A copy resumes from its last heartbeat on the next attempt: a dead worker, a share that was full. */
const copying = proxyActivities<Pick<ElasticSyncActivities, 'copyElasticLayer'>>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * elasticSync (ARCHITECTURE.md §6), one per share: copy every assigned layer disk, write the three
 * files as one set, remove the disks they no longer name. Requests arriving while it runs coalesce
 * into one more pass. A failed or stopped pass removes the disks it copied that the files on the share
 * do not name, so the share keeps its last complete sync.
 */
export async function elasticSync(input: ElasticSyncInput): Promise<ElasticSyncResult> {
  let requested = true;
  setHandler(elasticSyncRequested, () => {
    requested = true;
  });
  let passes = 0;
  let last: Omit<ElasticSyncResult, 'passes'> | undefined;
  while (requested) {
    requested = false;
    passes++;
    last = await withSaga(async (saga) => {
      // Planning checks the share is mounted: until it did, there is nothing to undo, nor a share to undo it on.
      const { plan, disks, skipped } = await records.planElasticSync(input.shareId);
      saga.register('layer disks the share files do not name', () =>
        records.removeUnassignedElasticLayers(input.shareId),
      );
      let copied = 0;
      const resumed: ElasticSyncResult['resumed'] = [];
      for (const disk of disks) {
        const copy = await copying.copyElasticLayer(input.shareId, disk);
        if (copy.copied) copied++;
        if (copy.resumedFrom) resumed.push({ versionId: disk.versionId, fromByte: copy.resumedFrom });
      }
      const { generation } = await records.writeElasticFiles(input.shareId, plan);
      const { removed } = await records.removeUnassignedElasticLayers(input.shareId);
      return { generation, layers: disks.length, copied, removed, skipped, resumed };
    });
  }
  return { passes, ...last! };
}
