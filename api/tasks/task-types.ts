import type { TaskType } from '../../domain/tasks';

/**
 * How the API starts each kind of task (domain/tasks.ts): the workflow that runs it and the one-line
 * summary shown in the Temporal Web UI. Adding a task type is its name in domain/tasks.ts, one entry
 * here and its workflow.
 */
export interface TaskTypeDefinition {
  workflowType: string;
  summary(context: { user: string; label?: string }): string;
}

export const TASK_DEFINITIONS: Readonly<Record<TaskType, TaskTypeDefinition>> = {
  diagnostics: {
    workflowType: 'diagnostics',
    summary: ({ user }) =>
      `Diagnostics: database, layer repository, toolchain and connectors (requested by ${user})`,
  },
  testConnector: {
    workflowType: 'testConnector',
    summary: ({ user, label }) => `Test connector configuration '${label}' (requested by ${user})`,
  },
  importOsLayer: {
    workflowType: 'importOsLayer',
    summary: ({ user, label }) => `Import OS layer version ${label} (requested by ${user})`,
  },
  buildLayerFromPackage: {
    workflowType: 'buildLayerFromPackage',
    summary: ({ user, label }) =>
      `Build layer version ${label} from an uploaded package (requested by ${user})`,
  },
  createLayerVersion: {
    workflowType: 'createLayerVersion',
    summary: ({ user, label }) =>
      `Create layer version ${label} on a packaging machine (requested by ${user})`,
  },
  publishImage: {
    workflowType: 'publishImage',
    summary: ({ user, label }) => `Publish image template '${label}' (requested by ${user})`,
  },
  localVmStandIn: {
    workflowType: 'localVmStandIn',
    summary: ({ user, label }) => `Local VM stand-in: ${label} (requested by ${user})`,
  },
  elasticSync: {
    workflowType: 'elasticSync',
    summary: ({ user, label }) => `Sync elastic layer share '${label}' (requested by ${user})`,
  },
  layerTransfer: {
    workflowType: 'layerTransfer',
    summary: ({ user, label }) => `Layer ${label} (requested by ${user})`,
  },
  ipsExport: {
    workflowType: 'ipsExport',
    summary: ({ user, label }) => `Image Portability export of ${label} (requested by ${user})`,
  },
  ipsUpload: {
    workflowType: 'ipsUpload',
    summary: ({ user, label }) => `Image Portability upload of ${label} (requested by ${user})`,
  },
  ipsPrepare: {
    workflowType: 'ipsPrepare',
    summary: ({ user, label }) => `Image Portability prepare of ${label} (requested by ${user})`,
  },
  ipsPublish: {
    workflowType: 'ipsPublish',
    summary: ({ user, label }) => `Image Portability publish of ${label} (requested by ${user})`,
  },
  ipsRun: {
    workflowType: 'ipsRun',
    summary: ({ user, label }) => `Image Portability run: ${label} (requested by ${user})`,
  },
};
