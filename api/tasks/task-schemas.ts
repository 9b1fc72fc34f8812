import { z } from 'zod';
import { TASK_STATES } from '../../domain/tasks';
import { timestamp } from '../responses';

export const taskState = z
  .enum(TASK_STATES)
  .describe(
    'cancelled: someone stopped it; terminated: ended by force in Temporal; timed_out: ran out of time',
  );

/** A task as the API shows it (api/tasks/task-service.ts `Task`). */
export const taskSchema = z.object({
  id: z.string(),
  type: z.string(),
  state: taskState,
  summary: z.string().optional(),
  objectId: z.string().optional(),
  user: z.string().optional(),
  startedAt: timestamp,
  closedAt: timestamp.optional(),
  progress: z.array(
    z.object({
      step: z.string(),
      attempt: z.number().int(),
      lastFailure: z
        .string()
        .optional()
        .describe("While the step is retried: its last attempt's failure, naming the cause"),
      nextAttemptAt: timestamp.optional().describe('While the step waits to be retried: when it is'),
      phase: z.string().optional(),
      done: z.number().optional(),
      total: z.number().optional(),
      percent: z.number().optional(),
    }),
  ),
  children: z
    .array(z.object({ id: z.string(), type: z.string() }))
    .optional()
    .describe("Child workflows running for the task (an offloaded publish's offloadCompose)"),
  compositingEngines: z
    .array(
      z.object({
        id: z.string(),
        connectorId: z.string(),
        connectorName: z.string(),
        createdAt: timestamp,
        registeredAt: timestamp.nullable(),
      }),
    )
    .optional()
    .describe('Compositing Engines that exist now for the task or its children (Offload Compositing)'),
  result: z
    .unknown()
    .optional()
    .describe(
      "What the task made; a publish task's postPublish.output only for callers with connectors.write",
    ),
  error: z.string().optional(),
});

export const taskPageSchema = z.object({
  items: z.array(
    taskSchema.pick({
      id: true,
      type: true,
      state: true,
      objectId: true,
      user: true,
      startedAt: true,
      closedAt: true,
    }),
  ),
  nextPageToken: z.string().optional().describe('Pass as pageToken for the next page; absent on the last'),
});
