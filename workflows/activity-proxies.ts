import {
  ActivityCancellationType,
  type ActivityInterfaceFor,
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

/** Every activity the workflows call on the appliance's own task queue, outside the copies. */
type ApplianceActivities = LayerRecordActivities &
  VmActivities &
  PackagingCacheActivities &
  PublishingActivities &
  ScratchActivities &
  UploadActivities &
  LocalVmStandInActivities;

/**
 * Steps that wait on a hypervisor or on what an admin wrote: VM operations (a clone, a power-off that
 * waits for the guest can take minutes on a real hypervisor), the packaging
 * cache's admission (it deletes the evicted disks there), the local connector's stand-ins (they write a
 * VM's disk) and post-publish scripts (killed after 10 minutes). None of them heartbeats, so the
 * start-to-close timeout is also how long a task lost on its way to a worker stalls the workflow.
 */
const HYPERVISOR_AND_SCRIPT_STEPS: ReadonlySet<string> = new Set<keyof ApplianceActivities>([
  'createVm',
  'powerOnVm',
  'shutdownVm',
  'snapshotVm',
  'destroyVm',
  'deleteDisk',
  'admitToPackagingCache',
  'runLocalVmStandIn',
  'runPostPublishScript',
]);

/**
 * A stop lets a running step finish first, so the compensations that follow see what it did (a VM it
 * created, a record it wrote).
 */
const applianceOptions = {
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
} as const;

const hypervisorAndScriptSteps = proxyActivities<ApplianceActivities>({
  ...applianceOptions,
  startToCloseTimeout: '15 minutes',
});

/**
 * The rest is bookkeeping: records, packaging cache look-ups, image names, scratch folders, uploads,
 * and a VM's status or disk location. Each takes seconds at most, so an attempt whose task was lost
 * (a worker that died holding it) is retried after 2 minutes instead of stalling the task for 15.
 */
const bookkeepingSteps = proxyActivities<ApplianceActivities>({
  ...applianceOptions,
  startToCloseTimeout: '2 minutes',
});

/**
 * Copies to a publish target and disk transfers to and from a hypervisor: a dead worker is noticed
 * within the heartbeat timeout and the transfer resumes; a stop waits until the transfer removed what
 * it wrote. No fixed bound: a VM's disk downloaded from vSphere can take more than 15 minutes.
 */
export const copying = proxyActivities<
  Pick<PublishingActivities, 'copyImageToStore'> & Pick<VmActivities, 'uploadDisk' | 'exportVmDisk'>
>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** Steps the workflows call through `appliance` that are transfers: they heartbeat (`copying`). */
const TRANSFER_STEPS: ReadonlySet<string> = new Set<keyof ApplianceActivities>(['exportVmDisk']);

/**
 * The appliance's steps, each with the timeout of its kind (above). Which proxy schedules a step is
 * decided by its name alone, so the commands a workflow issues stay as they were: only the timeouts in
 * them changed, which replay does not compare.
 */
export const appliance = new Proxy({} as ActivityInterfaceFor<ApplianceActivities>, {
  get: (_, name: string) => {
    const kind = TRANSFER_STEPS.has(name)
      ? copying
      : HYPERVISOR_AND_SCRIPT_STEPS.has(name)
        ? hypervisorAndScriptSteps
        : bookkeepingSteps;
    return (kind as ActivityInterfaceFor<ApplianceActivities>)[name as keyof ApplianceActivities];
  },
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
