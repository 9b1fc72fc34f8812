/**
 * Every kind of task the API can start: the workflow that runs it and the one-line summary shown in the
 * Temporal Web UI. Adding a task type is one entry here plus its workflow.
 */
export interface TaskTypeDefinition {
  workflowType: string;
  summary(context: { user: string; label?: string }): string;
}

export const TASK_TYPES = {
  diagnostics: {
    workflowType: 'diagnostics',
    summary: ({ user }) =>
      `Diagnostics: database, layer repository, toolchain and connectors (requested by ${user})`,
  },
  testConnector: {
    workflowType: 'testConnector',
    summary: ({ user, label }) => `Test connector configuration '${label}' (requested by ${user})`,
  },
} satisfies Record<string, TaskTypeDefinition>;

export type TaskType = keyof typeof TASK_TYPES;
