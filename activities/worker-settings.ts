/**
 * Settings a workflow needs from the deployment, read through a local activity so replays see the
 * recorded value: workflows cannot read the environment themselves.
 */
export interface WorkerSettings {
  composeTaskQueue: string;
}

export function createWorkerSettingsActivities(settings: WorkerSettings) {
  return {
    async workerSettings(): Promise<WorkerSettings> {
      return settings;
    },
  };
}

export type WorkerSettingsActivities = ReturnType<typeof createWorkerSettingsActivities>;
