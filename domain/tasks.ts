/**
 * Every kind of task the API starts; each names the workflow that runs it (api/tasks/task-types.ts
 * adds the summary the Temporal Web UI shows).
 */
export const TASK_TYPES = [
  'diagnostics',
  'testConnector',
  'importOsLayer',
  'buildLayerFromPackage',
  'createLayerVersion',
  'publishImage',
  'localVmStandIn',
  'elasticSync',
  'layerTransfer',
  'ipsExport',
  'ipsUpload',
  'ipsPrepare',
  'ipsPublish',
  'ipsRun',
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/**
 * A task's state as the API shows it: Temporal's execution status in Lamina's words. `cancelled` is
 * a task someone stopped.
 */
export const TASK_STATES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
