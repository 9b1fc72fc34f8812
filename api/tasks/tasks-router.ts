import { z } from 'zod';
import type { PostPublishResult } from '../../activities/publishing';
import type { Caller } from '../auth/identity';
import { hasPermission } from '../auth/roles';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { resource, route } from '../route';
import {
  TaskNotFoundError,
  TaskNotRetryableError,
  TaskNotRunningError,
  type Task,
  type TaskService,
} from './task-service';
import { enginesOfTasks } from '../../db/compositing-engines';
import { TASK_TYPES } from '../../domain/tasks';
import { taskPageSchema, taskSchema, taskState } from './task-schemas';
import { withTaskLocation } from './task-location';

const taskIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'not a task id') });
const waitQuery = z.object({
  timeout: z.coerce
    .number()
    .int()
    .min(0)
    .max(300)
    .default(30)
    .describe('Seconds to wait for the task to close'),
});
/** Visibility-query values: no quotes or spaces can get through these. */
const keyword = z.string().regex(/^[A-Za-z0-9@._\\-]{1,256}$/, 'letters, digits and @ . _ - only');
const listQuery = z.object({
  type: z.enum(TASK_TYPES).optional(),
  object: z.uuid().optional().describe('Id of the object the task works on'),
  user: keyword.optional().describe('Who started the task'),
  state: taskState.optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
  pageToken: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,4096}$/)
    .optional(),
});

/** Maps the task service's refusals onto HTTP answers. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskNotFoundError)
      throw new HttpProblem({ title: 'Task not found', status: 404, detail: err.message });
    if (err instanceof TaskNotRunningError || err instanceof TaskNotRetryableError) {
      throw new HttpProblem({ title: 'Task state does not allow this', status: 409, detail: err.message });
    }
    throw err;
  }
}

/**
 * A publish task's result carries its post-publish script's output, which may tell about the connector's
 * systems: only callers who may change connectors (and so the script) see it.
 */
function asSeenBy(caller: Caller, task: Task): Task {
  const result = task.result as { postPublish?: PostPublishResult } | undefined;
  if (result?.postPublish?.output === undefined || hasPermission(caller.roles, 'connectors.write'))
    return task;
  const postPublish = { ...result.postPublish };
  delete postPublish.output;
  return { ...task, result: { ...result, postPublish } };
}

/** Stopping or retrying someone else's task is for administrators only. */
async function ownTaskOrAdministrator(tasks: TaskService, id: string, caller: Caller): Promise<void> {
  const task = await answer(() => tasks.describe(id));
  if (task.user !== caller.name && !caller.roles.includes('Administrator')) {
    throw new HttpProblem({
      title: 'Permission denied',
      status: 403,
      detail: `Task '${id}' was started by ${task.user}.`,
    });
  }
}

/** Tasks are Temporal workflows; this router lists, starts, describes, waits for, stops and retries them. */
export function tasksResource({ tasks, pool }: ApiDeps) {
  /** A running task with the Compositing Engines its offloaded compose has now (they go when it ends). */
  const withEngines = async (task: Task) => {
    if (task.state !== 'running') return task;
    const engines = await enginesOfTasks(pool, [task.id, ...(task.children ?? []).map((c) => c.id)]);
    return engines.length > 0 ? { ...task, compositingEngines: engines } : task;
  };

  return resource('Tasks', '/api/tasks', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listTasks',
      response: taskPageSchema,
      summary: 'List tasks, newest first (Temporal visibility)',
      access: 'read',
      query: listQuery,
      handle: ({ query }) => tasks.list({ ...query, objectId: query.object }),
    }),
    route({
      method: 'post',
      path: '/diagnostics',
      operationId: 'runDiagnostics',
      response: taskSchema,
      summary: 'Start the diagnostics task',
      access: 'diagnostics.run',
      status: 202,
      handle: async ({ caller, res }) => {
        return withTaskLocation(res, await tasks.start('diagnostics', { user: caller.name }));
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getTask',
      response: taskSchema,
      summary: 'Describe a task with its progress',
      access: 'read',
      params: taskIdParams,
      handle: async ({ params, caller }) =>
        withEngines(asSeenBy(caller, await answer(() => tasks.describe(params.id)))),
    }),
    route({
      method: 'get',
      path: '/:id/wait',
      operationId: 'waitForTask',
      response: taskSchema,
      summary: 'Wait (long-poll) until the task closes or the timeout passes, then describe it',
      access: 'read',
      params: taskIdParams,
      query: waitQuery,
      handle: async ({ params, query, caller }) =>
        asSeenBy(caller, await answer(() => tasks.wait(params.id, query.timeout * 1000))),
    }),
    route({
      method: 'post',
      path: '/:id/stop',
      operationId: 'stopTask',
      response: taskSchema,
      summary: 'Stop (cancel) a running task',
      access: 'tasks.control',
      params: taskIdParams,
      handle: async ({ params, caller }) => {
        await ownTaskOrAdministrator(tasks, params.id, caller);
        return answer(() => tasks.stop(params.id));
      },
    }),
    route({
      method: 'post',
      path: '/:id/retry',
      operationId: 'retryTask',
      response: taskSchema,
      summary: 'Start a new run of a failed, cancelled or timed-out task',
      access: 'tasks.control',
      params: taskIdParams,
      status: 202,
      handle: async ({ params, caller, auditObject }) => {
        await ownTaskOrAdministrator(tasks, params.id, caller);
        const task = await answer(() => tasks.retry(params.id, caller.name));
        auditObject(task.id);
        return task;
      },
    }),
  ]);
}
