import express from 'express';
import { healthRouter, type ReadinessProbe } from './health';
import { problemHandler, sendProblem } from './problem';
import { tasksRouter } from './tasks/tasks-router';
import type { TaskService } from './tasks/task-service';

declare module 'express-serve-static-core' {
  interface Request {
    /** The signed-in user's name, used for task ownership and audit. */
    laminaUser?: string;
    /** The authenticated caller (set by issue-5's authentication middleware). */
    caller?: import('./auth/identity').Caller;
  }
}

export interface ApiDeps {
  tasks: TaskService;
  readiness: ReadinessProbe[];
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));
  app.use(healthRouter(deps.readiness));
  app.use('/api/tasks', tasksRouter(deps.tasks));
  app.use((req, res) => {
    sendProblem(res, { title: 'Not found', status: 404, detail: `No route for ${req.method} ${req.path}` });
  });
  app.use(problemHandler);
  return app;
}
