/**
 * What Lamina's workflows, the power watcher and the hypervisors' VMs agree on (ARCHITECTURE.md §6).
 */

/** Tag on a VM naming the workflow that waits on it; the power watcher signals that workflow. */
export const WORKFLOW_TAG = 'workflowId';

/** Written by the guest when the layers' first-start scripts are done (MCS master images). */
export interface ScriptsReport {
  ok: boolean;
  reportedAt: string;
  detail: string;
}
