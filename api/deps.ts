import type { PayloadCodec } from '@temporalio/common';
import type { Pool } from 'pg';
import type { AuthConfig } from '../config/env';
import type { SecretBox } from '../config/secret-box';
import type { ReadinessProbe } from './health';
import type { TaskService } from './tasks/task-service';

/** What the API's routers work with; built once by runtime/stack.ts (and by tests). */
export interface ApiDeps {
  pool: Pool;
  tasks: TaskService;
  secrets: SecretBox;
  auth: AuthConfig;
  readiness: ReadinessProbe[];
  /** Where uploaded packages (zip, .reg, deletions) wait for the task that builds a layer from them. */
  uploadsDir: string;
  /** The largest upload accepted (LAMINA_UPLOAD_MAX_MIB). */
  uploadMaxBytes: number;
  /** The folders a disk file may be imported from (LAMINA_IMPORT_DIRS). */
  importDirs: string[];
  /** Lamina's own folders (data, repository, program): no connector may write into them. */
  ownDirs: string[];
  /** Encrypts Temporal payloads; the codec endpoint runs it for the Temporal Web UI. */
  payloadCodec: PayloadCodec;
  /** Web UI origins the codec endpoint answers with CORS and the session cookie (LAMINA_TEMPORAL_UI_ORIGINS). */
  temporalUiOrigins: string[];
  /** The Temporal Web UI's workflow list for Lamina's namespace, when one runs (the console links tasks to it). */
  temporalWorkflowsUrl?: string;
}
