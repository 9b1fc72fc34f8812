import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { LayerDiskActivities } from '../activities/layer-disks';
import type { LayerRecordActivities } from '../activities/layer-records';
import type { LocalVmStandInActivities } from '../activities/local-vm-stand-ins';
import type { PackagingCacheActivities } from '../activities/packaging-cache';
import type { PublishingActivities } from '../activities/publishing';
import type { ScratchActivities } from '../activities/scratch';
import type { UploadActivities } from '../activities/uploads';
import type { VmActivities } from '../activities/vms';
import type { WorkerSettingsActivities } from '../activities/worker-settings';

/** How the workflows call activities: activity *types* only, options per kind of work. */

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 30,
};

/**
 * Quick steps: records, VM operations, cache bookkeeping, scripts. A stop lets a running one finish
 * first, so the compensations that follow see what it did (a VM it created, a record it wrote).
 */
export const appliance = proxyActivities<
  LayerRecordActivities &
    VmActivities &
    PackagingCacheActivities &
    PublishingActivities &
    ScratchActivities &
    UploadActivities &
    LocalVmStandInActivities
>({
  startToCloseTimeout: '15 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * Copies to a publish target and disk uploads to a hypervisor: a dead worker is noticed within the
 * heartbeat timeout and the transfer resumes; a stop waits until the transfer removed what it wrote.
 */
export const copying = proxyActivities<
  Pick<PublishingActivities, 'copyImageToStore'> & Pick<VmActivities, 'uploadDisk'>
>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

export const settings = proxyLocalActivities<WorkerSettingsActivities>({ startToCloseTimeout: '10 seconds' });

/**
 * Disk-heavy steps on the compose task queue. A stop waits until the activity has removed its
 * half-written output, so the compensations that follow find nothing left to race with.
 */
export async function diskWork(): Promise<{ disks: LayerDiskActivities }> {
  const { composeTaskQueue } = await settings.workerSettings();
  // Wrapped: a promise resolving to the proxy itself would be probed for `.then`, an activity call.
  const disks = proxyActivities<LayerDiskActivities>({
    taskQueue: composeTaskQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '10 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
  return { disks };
}
