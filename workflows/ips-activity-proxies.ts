import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { IpsActivities } from '../activities/ips-phases';
import type { ScratchActivities } from '../activities/scratch';
import type { VmActivities } from '../activities/vms';

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 30,
};

/** Quick steps: removing what a phase made, creating the master image VM, resolving a share path. */
export const ipsQuick = proxyActivities<IpsActivities & ScratchActivities & VmActivities>({
  startToCloseTimeout: '15 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * Transfers (export, upload, copies into a store): a dead worker is noticed within the heartbeat
 * timeout and the next attempt resumes from the last heartbeat's token; a stop waits until the
 * transfer has stopped, so the compensation that follows finds nothing still being written.
 */
export const ipsTransfers = proxyActivities<IpsActivities & VmActivities>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** Prepare, bounded by the task's Timeout option (the cmdlet's), in minutes. */
export function ipsPreparing(timeoutMinutes: number) {
  return proxyActivities<IpsActivities>({
    startToCloseTimeout: `${timeoutMinutes} minutes`,
    heartbeatTimeout: '30 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumAttempts: 3 },
  });
}
