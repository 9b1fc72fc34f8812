import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { withFailureTable } from '../activities/failure-table';
import { HEARTBEAT_THROTTLE } from '../activities/heartbeat';
import { createEnginePrepareActivities } from '../activities/ips-engine-prepare';
import { createEngineActivities, type EngineDeps } from '../activities/offload-engine-compose';
import { engineTaskQueue } from '../domain/compositing-engines';

export interface CeWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The engine's id: its task queue is `ce-<id>`, which no other worker polls. */
  engineId: string;
  /** Carries the payload codec (config/payload-codec.ts), as every worker's does. */
  dataConverter: DataConverter;
  deps: EngineDeps;
}

/**
 * The Compositing Engine's worker (ARCHITECTURE.md §1): one compose (or one Image Portability prepare,
 * activities/ips-engine-prepare.ts), on the engine's own task queue
 * (Temporal's worker-specific queue pattern), read over iSCSI, written to the platform's storage.
 */
export function createCeWorker(options: CeWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: engineTaskQueue(options.engineId),
    dataConverter: options.dataConverter,
    activities: withFailureTable({
      ...createEngineActivities(options.deps),
      ...createEnginePrepareActivities(),
    }),
    maxConcurrentActivityTaskExecutions: 1,
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
}
