import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { HEARTBEAT_THROTTLE } from '../activities/heartbeat';

export interface ApplianceWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Carries the payload codec (config/payload-codec.ts): history holds only encrypted payloads. */
  dataConverter: DataConverter;
  /** Pre-built workflow bundle (tests bundle once per run); otherwise workflows/ is bundled at start. */
  workflowBundlePath?: string;
}

/** The appliance worker: runs every workflow and the activities that need the appliance's database and disks. */
export function createApplianceWorker(options: ApplianceWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    dataConverter: options.dataConverter,
    activities: createActivities(options.deps),
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
    ...(options.workflowBundlePath
      ? { workflowBundle: { codePath: options.workflowBundlePath } }
      : { workflowsPath: require.resolve('../workflows') }),
  });
}
