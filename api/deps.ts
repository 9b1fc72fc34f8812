import type { Pool } from 'pg';
import type { AuthConfig } from '../config/env';
import type { SecretBox } from '../db/secret-box';
import type { ReadinessProbe } from './health';
import type { TaskService } from './tasks/task-service';

/** What the API's routers work with; built once by runtime/stack.ts (and by tests). */
export interface ApiDeps {
  pool: Pool;
  tasks: TaskService;
  secrets: SecretBox;
  auth: AuthConfig;
  readiness: ReadinessProbe[];
}
