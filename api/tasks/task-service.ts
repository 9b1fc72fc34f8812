import { randomUUID } from 'node:crypto';
import {
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter, defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TASK_TYPES, type TaskType } from './task-types';

export const taskTypeKey = defineSearchAttributeKey('LaminaTaskType', SearchAttributeType.KEYWORD);
export const objectIdKey = defineSearchAttributeKey('LaminaObjectId', SearchAttributeType.KEYWORD);
export const userKey = defineSearchAttributeKey('LaminaUser', SearchAttributeType.KEYWORD);

export type TaskState = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';

/** Progress of one running step, from the activity's last heartbeat. */
export interface TaskProgress {
  step: string;
  attempt: number;
  phase?: string;
  done?: number;
  total?: number;
  percent?: number;
}

export interface Task {
  id: string;
  type: string;
  state: TaskState;
  summary?: string;
  objectId?: string;
  user?: string;
  startedAt: string;
  closedAt?: string;
  progress: TaskProgress[];
  result?: unknown;
  error?: string;
}

const STATUS_TO_STATE: Record<string, TaskState> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'running',
};

export class TaskNotFoundError extends Error {
  constructor(readonly taskId: string) {
    super(`task '${taskId}' does not exist`);
  }
}

/** Tasks are Temporal workflows: started with search attributes, described from visibility and heartbeats. */
export class TaskService {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async start(type: TaskType, options: { user: string; objectId?: string; args?: unknown[] }): Promise<Task> {
    const definition = TASK_TYPES[type];
    const id = `${type}-${randomUUID()}`;
    await this.client.workflow.start(definition.workflowType, {
      workflowId: id,
      taskQueue: this.taskQueue,
      args: options.args ?? [],
      staticSummary: definition.summary({ user: options.user }),
      typedSearchAttributes: [
        { key: taskTypeKey, value: type },
        { key: userKey, value: options.user },
        ...(options.objectId ? [{ key: objectIdKey, value: options.objectId }] : []),
      ],
    });
    return this.describe(id);
  }

  async describe(id: string): Promise<Task> {
    const handle = this.client.workflow.getHandle(id);
    let description: WorkflowExecutionDescription;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(id);
      throw err;
    }
    const state = STATUS_TO_STATE[description.status.name] ?? 'running';
    const task: Task = {
      id,
      type: description.typedSearchAttributes.get(taskTypeKey) ?? description.type,
      state,
      summary: await description.staticSummary(),
      objectId: description.typedSearchAttributes.get(objectIdKey),
      user: description.typedSearchAttributes.get(userKey),
      startedAt: description.startTime.toISOString(),
      closedAt: description.closeTime?.toISOString(),
      progress: pendingProgress(description),
    };
    if (state === 'completed') task.result = await handle.result();
    if (state === 'failed' || state === 'timed_out') task.error = await failureMessage(handle);
    return task;
  }

  /** Waits until the task closes or `timeoutMs` passes, then describes it (long-poll for clients). */
  async wait(id: string, timeoutMs: number): Promise<Task> {
    const handle = this.client.workflow.getHandle(id);
    await Promise.race([
      handle.result().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    return this.describe(id);
  }
}

function pendingProgress(description: WorkflowExecutionDescription): TaskProgress[] {
  const pending = description.raw.pendingActivities ?? [];
  return pending.map((activity) => {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    const details = payload
      ? (defaultPayloadConverter.fromPayload(
          payload as temporal.api.common.v1.IPayload,
        ) as Partial<TaskProgress>)
      : {};
    const progress: TaskProgress = {
      step: activity.activityType?.name ?? 'unknown',
      attempt: activity.attempt ?? 1,
    };
    if (typeof details.phase === 'string') progress.phase = details.phase;
    if (typeof details.done === 'number' && typeof details.total === 'number' && details.total > 0) {
      progress.done = details.done;
      progress.total = details.total;
      progress.percent = Math.round((details.done / details.total) * 1000) / 10;
    }
    return progress;
  });
}

async function failureMessage(handle: WorkflowHandle): Promise<string> {
  try {
    await handle.result();
    return 'unknown failure';
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    return cause?.message ?? (err as Error).message;
  }
}
