import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createComposeActivities } from '../activities';
import { HEARTBEAT_THROTTLE } from '../activities/heartbeat';

export interface ComposeWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Carries the payload codec (config/payload-codec.ts): history holds only encrypted payloads. */
  dataConverter: DataConverter;
  /** Compose runs at most this many at once per worker: each is CPU- and disk-bound. */
  concurrency: number;
  /** The layer repository, where compose reports are stored by id. */
  repositoryDir: string;
}

/**
 * The compose worker (ARCHITECTURE.md §1): disk-heavy activities only, on their own task queue, so a
 * burst of publishes queues up here instead of starving the appliance worker's short activities.
 */
export function createComposeWorker(options: ComposeWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    dataConverter: options.dataConverter,
    activities: createComposeActivities({ repositoryDir: options.repositoryDir }),
    maxConcurrentActivityTaskExecutions: options.concurrency,
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
}
