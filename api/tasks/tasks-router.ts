import { Router } from 'express';
import { z } from 'zod';
import { HttpProblem, validationProblem } from '../problem';
import { TaskNotFoundError, type TaskService } from './task-service';

const taskIdParams = z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'not a task id') });
const waitQuery = z.object({
  timeout: z.coerce.number().int().min(0).max(300).default(30),
});

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'params'): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpProblem(validationProblem(result.error, where));
  return result.data;
}

async function describeOr404<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof TaskNotFoundError) {
      throw new HttpProblem({ title: 'Task not found', status: 404, detail: err.message });
    }
    throw err;
  }
}

/** Tasks are Temporal workflows; this router starts them and reports their state, progress and result. */
export function tasksRouter(tasks: TaskService): Router {
  const router = Router();

  router.post('/diagnostics', async (req, res) => {
    const task = await tasks.start('diagnostics', { user: req.laminaUser ?? 'administrator' });
    res.status(202).location(`/api/tasks/${task.id}`).json(task);
  });

  router.get('/:id', async (req, res) => {
    const { id } = parse(taskIdParams, req.params, 'params');
    res.json(await describeOr404(() => tasks.describe(id)));
  });

  router.get('/:id/wait', async (req, res) => {
    const { id } = parse(taskIdParams, req.params, 'params');
    const { timeout } = parse(waitQuery, req.query, 'query');
    res.json(await describeOr404(() => tasks.wait(id, timeout * 1000)));
  });

  return router;
}
