import type { Response } from 'express';

/** A route that starts a task answers 202 with the task and where to follow it. */
export function withTaskLocation<T extends { id: string }>(res: Response, task: T): T {
  res.location(`/api/tasks/${task.id}`);
  return task;
}
