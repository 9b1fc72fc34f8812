import { randomUUID } from 'node:crypto';
import {
  WorkflowNotFoundError,
  type Client,
  type Connection,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter, type LoadedDataConverter } from '@temporalio/common';
import {
  decodeArrayFromPayloads,
  decodeOptionalFailureToOptionalError,
  decodeOptionalSinglePayload,
} from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { OBJECT_ID_KEY, TASK_TYPE_KEY, USER_KEY } from '../../domain/search-attributes';
import { TASK_TYPES, type TaskState, type TaskType } from '../../domain/tasks';
import { temporalUnavailable, temporalUnavailableFrom } from '../problem';
import { TASK_DEFINITIONS } from './task-types';

/** Progress of one running step, from the activity's last heartbeat. */
export interface TaskProgress {
  step: string;
  attempt: number;
  /** While the step is retried: why its last attempt failed, and when the next one starts. */
  lastFailure?: string;
  nextAttemptAt?: string;
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
  /** Child workflows running for it now (an offloaded publish's offloadCompose); their steps are in `progress`. */
  children?: { id: string; type: string }[];
  result?: unknown;
  error?: string;
}

const Status = temporal.api.enums.v1.WorkflowExecutionStatus;

/**
 * Temporal's execution status → the task's state, keyed by the wire enum that both describe and list
 * answer with, and complete, so no status falls through to a default. (Keyed by names before, the list
 * missed Temporal's one-L `CANCELED` and showed stopped tasks as running.) A continued-as-new run goes on
 * in its successor; a paused one is still running.
 */
const STATUS_TO_STATE: Readonly<Record<temporal.api.enums.v1.WorkflowExecutionStatus, TaskState>> = {
  [Status.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED]: 'running',
  [Status.WORKFLOW_EXECUTION_STATUS_RUNNING]: 'running',
  [Status.WORKFLOW_EXECUTION_STATUS_COMPLETED]: 'completed',
  [Status.WORKFLOW_EXECUTION_STATUS_FAILED]: 'failed',
  [Status.WORKFLOW_EXECUTION_STATUS_CANCELED]: 'cancelled',
  [Status.WORKFLOW_EXECUTION_STATUS_TERMINATED]: 'terminated',
  [Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW]: 'running',
  [Status.WORKFLOW_EXECUTION_STATUS_TIMED_OUT]: 'timed_out',
  [Status.WORKFLOW_EXECUTION_STATUS_PAUSED]: 'running',
};

function stateOf(status: temporal.api.enums.v1.WorkflowExecutionStatus | null | undefined): TaskState {
  return STATUS_TO_STATE[status ?? Status.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED];
}

/** The state as a visibility query names it (`ExecutionStatus = 'Canceled'`). */
const STATE_TO_STATUS: Readonly<Record<TaskState, string>> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

export interface TaskFilter {
  type?: string;
  objectId?: string;
  user?: string;
  state?: TaskState;
  /** ISO 8601 bounds on the start time. */
  since?: string;
  until?: string;
  pageSize: number;
  pageToken?: string;
}

export type TaskSummary = Pick<
  Task,
  'id' | 'type' | 'state' | 'objectId' | 'user' | 'startedAt' | 'closedAt'
>;

export interface TaskPage {
  items: TaskSummary[];
  /** Pass back as `pageToken` for the next page; absent on the last page. */
  nextPageToken?: string;
}

function summaryOf(execution: temporal.api.workflow.v1.IWorkflowExecutionInfo): TaskSummary {
  const fields = execution.searchAttributes?.indexedFields ?? {};
  const attribute = ({ name }: { name: string }) =>
    fields[name]
      ? (defaultPayloadConverter.fromPayload(fields[name] as temporal.api.common.v1.IPayload) as string)
      : undefined;
  return {
    id: execution.execution?.workflowId ?? '',
    type: attribute(TASK_TYPE_KEY) ?? execution.type?.name ?? 'unknown',
    state: stateOf(execution.status),
    objectId: attribute(OBJECT_ID_KEY),
    user: attribute(USER_KEY),
    startedAt: timestamp(execution.startTime)!,
    closedAt: timestamp(execution.closeTime),
  };
}

function timestamp(
  value: { seconds?: unknown; nanos?: number | null } | null | undefined,
): string | undefined {
  if (!value?.seconds) return undefined;
  return new Date(Number(value.seconds) * 1000 + Math.floor((value.nanos ?? 0) / 1e6)).toISOString();
}

export class TaskNotRunningError extends Error {
  constructor(
    readonly taskId: string,
    readonly state: TaskState,
  ) {
    super(`task '${taskId}' is ${state}, not running`);
  }
}

export class TaskNotRetryableError extends Error {
  constructor(
    readonly taskId: string,
    reason: string,
  ) {
    super(`task '${taskId}' cannot be retried: ${reason}`);
  }
}

export class TaskNotFoundError extends Error {
  constructor(readonly taskId: string) {
    super(`task '${taskId}' does not exist`);
  }
}

/**
 * How long a task call waits for Temporal's health check. The check goes over a connection without the
 * SDK's retries (`connectClient(…, { retry: false })`): a Temporal that is down refuses it at once, so
 * the bound only meets a server that is up but slow, or hung. It is long enough that a busy machine's
 * slow answer is not a false 503 (1.5 s was: at load 11 a burst of starts missed it).
 */
const TEMPORAL_CHECK_MS = 5_000;

/** The part of a Temporal connection the check uses: gRPC's standard health service. */
export type TemporalHealth = Pick<Connection, 'healthService' | 'withDeadline'>;

/** Tasks are Temporal workflows: started with search attributes, described from visibility and heartbeats. */
export class TaskService {
  /** `health`: a connection to the same server without the SDK's retrying interceptor. */
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly health: TemporalHealth,
  ) {}

  /** The health check in flight, shared by every call that arrives while it runs. */
  private pendingCheck: Promise<void> | undefined;

  /**
   * Every public call starts here: a 503 naming Temporal within TEMPORAL_CHECK_MS when it does not answer.
   * Calls arriving together share one check: forty task starts at once each sending their own made the
   * busy server slow enough to miss the bound, a false 503.
   */
  private checkTemporal(): Promise<void> {
    this.pendingCheck ??= this.askTemporal().finally(() => {
      this.pendingCheck = undefined;
    });
    return this.pendingCheck;
  }

  /** The timer names the bound in the 503; the deadline also ends the call on the wire. */
  private async askTemporal(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(temporalUnavailable(`no answer within ${TEMPORAL_CHECK_MS / 1000} s`)),
        TEMPORAL_CHECK_MS,
      );
    });
    try {
      await Promise.race([
        this.health.withDeadline(Date.now() + TEMPORAL_CHECK_MS, () => this.health.healthService.check({})),
        timeout,
      ]);
    } catch (err) {
      throw temporalUnavailableFrom(err) ?? err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `label` names the object for the summary shown in the Temporal Web UI. */
  /**
   * `oneAtATime`: the task's id is its type and this appliance's task queue, so while one such task
   * runs, another start fails with Temporal's WorkflowExecutionAlreadyStartedError (layer transfers).
   */
  async start(
    type: TaskType,
    options: { user: string; objectId?: string; label?: string; args?: unknown[]; oneAtATime?: boolean },
  ): Promise<Task> {
    await this.checkTemporal();
    const id = options.oneAtATime ? `${type}-${this.taskQueue}` : `${type}-${randomUUID()}`;
    await this.client.workflow.start(
      TASK_DEFINITIONS[type].workflowType,
      this.startOptions(id, type, options),
    );
    return this.describe(id);
  }

  /**
   * Starts the task under the given id, or, while a task of that id runs, sends it `signal` instead:
   * requests for one object coalesce into the running task (an elastic sync per share).
   */
  async startOrSignal(
    type: TaskType,
    options: {
      id: string;
      signal: string;
      user: string;
      objectId?: string;
      label?: string;
      args?: unknown[];
    },
  ): Promise<Task> {
    await this.checkTemporal();
    await this.client.workflow.signalWithStart(TASK_DEFINITIONS[type].workflowType, {
      ...this.startOptions(options.id, type, options),
      signal: options.signal,
      signalArgs: [],
    });
    return this.describe(options.id);
  }

  private startOptions(
    id: string,
    type: TaskType,
    options: { user: string; objectId?: string; label?: string; args?: unknown[] },
  ) {
    return {
      workflowId: id,
      taskQueue: this.taskQueue,
      args: options.args ?? [],
      staticSummary: TASK_DEFINITIONS[type].summary({ user: options.user, label: options.label }),
      typedSearchAttributes: [
        { key: TASK_TYPE_KEY, value: type },
        { key: USER_KEY, value: options.user },
        ...(options.objectId ? [{ key: OBJECT_ID_KEY, value: options.objectId }] : []),
      ],
    };
  }

  async describe(id: string): Promise<Task> {
    await this.checkTemporal();
    const handle = this.client.workflow.getHandle(id);
    let description: WorkflowExecutionDescription;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(id);
      throw err;
    }
    const state = stateOf(description.raw.workflowExecutionInfo?.status);
    const task: Task = {
      id,
      type: description.typedSearchAttributes.get(TASK_TYPE_KEY) ?? description.type,
      state,
      summary: await description.staticSummary(),
      objectId: description.typedSearchAttributes.get(OBJECT_ID_KEY),
      user: description.typedSearchAttributes.get(USER_KEY),
      startedAt: description.startTime.toISOString(),
      closedAt: description.closeTime?.toISOString(),
      progress: await pendingProgress(description, this.client.options.loadedDataConverter),
    };
    const children = (description.raw.pendingChildren ?? []).map((child) => ({
      id: child.workflowId ?? '',
      type: child.workflowTypeName ?? 'unknown',
    }));
    if (children.length > 0) {
      task.children = children;
      // While a child does the work the parent has no step of its own running: the child's steps show it.
      for (const child of children) task.progress.push(...(await this.childProgress(child.id)));
    }
    if (state === 'completed') task.result = await handle.result();
    if (state === 'failed' || state === 'timed_out') task.error = await failureMessage(handle);
    return task;
  }

  /** A child workflow's running steps; none when it closed between the two calls. */
  private async childProgress(id: string): Promise<TaskProgress[]> {
    try {
      const child = await this.client.workflow.getHandle(id).describe();
      return await pendingProgress(child, this.client.options.loadedDataConverter);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return [];
      throw err;
    }
  }

  /**
   * One page of this appliance's tasks from Temporal visibility, newest first. Filter values are checked
   * by the caller's schema (no quotes possible); the query is scoped to this appliance's task queue.
   */
  async list(filter: TaskFilter): Promise<TaskPage> {
    await this.checkTemporal();
    const conditions = [`TaskQueue = '${this.taskQueue}'`];
    if (filter.type) conditions.push(`${TASK_TYPE_KEY.name} = '${filter.type}'`);
    if (filter.objectId) conditions.push(`${OBJECT_ID_KEY.name} = '${filter.objectId}'`);
    if (filter.user) conditions.push(`${USER_KEY.name} = '${filter.user}'`);
    if (filter.state) conditions.push(`ExecutionStatus = '${STATE_TO_STATUS[filter.state]}'`);
    if (filter.since) conditions.push(`StartTime >= '${filter.since}'`);
    if (filter.until) conditions.push(`StartTime < '${filter.until}'`);
    const response = await this.client.workflowService.listWorkflowExecutions({
      namespace: this.client.options.namespace,
      query: conditions.join(' AND '),
      pageSize: filter.pageSize,
      nextPageToken: filter.pageToken ? Buffer.from(filter.pageToken, 'base64url') : undefined,
    });
    const items = (response.executions ?? []).map(summaryOf);
    const next = response.nextPageToken?.length
      ? Buffer.from(response.nextPageToken).toString('base64url')
      : undefined;
    return { items, nextPageToken: next };
  }

  /** Asks the task to stop: its workflow is cancelled and runs its compensations. */
  async stop(id: string): Promise<Task> {
    const task = await this.describe(id);
    if (task.state !== 'running') throw new TaskNotRunningError(id, task.state);
    await this.client.workflow.getHandle(id).cancel();
    return this.describe(id);
  }

  /** Starts a new run of a task that did not complete, with the same type, object and arguments. */
  async retry(id: string, user: string): Promise<Task> {
    const task = await this.describe(id);
    if (task.state === 'running' || task.state === 'completed') {
      throw new TaskNotRetryableError(id, `it is ${task.state}; only a task that did not complete can be`);
    }
    if (!(TASK_TYPES as readonly string[]).includes(task.type))
      throw new TaskNotRetryableError(id, `this build has no task type '${task.type}'`);
    const history = await this.client.workflow.getHandle(id).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    // Through the client's converter: the input is encrypted (config/payload-codec.ts).
    const args = await decodeArrayFromPayloads(this.client.options.loadedDataConverter, input);
    return this.start(task.type as TaskType, { user, objectId: task.objectId, args });
  }

  /** Waits until the task closes or `timeoutMs` passes, then describes it (long-poll for clients). */
  async wait(id: string, timeoutMs: number): Promise<Task> {
    await this.checkTemporal();
    const handle = this.client.workflow.getHandle(id);
    await Promise.race([
      handle.result().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
    return this.describe(id);
  }
}

/** Heartbeat details are payloads like any other: decoded (and decrypted) through the client's converter. */
async function pendingProgress(
  description: WorkflowExecutionDescription,
  converter: LoadedDataConverter,
): Promise<TaskProgress[]> {
  const pending = description.raw.pendingActivities ?? [];
  return Promise.all(
    pending.map(async (activity) => {
      const details =
        (await decodeOptionalSinglePayload<Partial<TaskProgress>>(
          converter,
          activity.heartbeatDetails?.payloads?.[0],
        )) ?? {};
      const progress: TaskProgress = {
        step: activity.activityType?.name ?? 'unknown',
        attempt: activity.attempt ?? 1,
      };
      const lastFailure = await decodeOptionalFailureToOptionalError(converter, activity.lastFailure);
      if (lastFailure) progress.lastFailure = innermostMessage(lastFailure);
      const nextAttemptAt = timestamp(activity.nextAttemptScheduleTime);
      if (nextAttemptAt) progress.nextAttemptAt = nextAttemptAt;
      if (typeof details.phase === 'string') progress.phase = details.phase;
      if (typeof details.done === 'number' && typeof details.total === 'number' && details.total > 0) {
        progress.done = details.done;
        progress.total = details.total;
        progress.percent = Math.round((details.done / details.total) * 1000) / 10;
      }
      return progress;
    }),
  );
}

async function failureMessage(handle: WorkflowHandle): Promise<string> {
  try {
    await handle.result();
    return 'unknown failure';
  } catch (err) {
    return innermostMessage(err as Error);
  }
}

/** The innermost cause names the problem ("VM 'x' has no disk 'y'"), not "Activity task failed". */
function innermostMessage(err: Error): string {
  let cause: unknown = err;
  while ((cause as Error).cause instanceof Error) cause = (cause as Error).cause;
  return (cause as Error).message;
}
