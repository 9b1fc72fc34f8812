import type { Pool } from 'pg';
import type { SealedSecret } from '../config/secret-box';

/**
 * Compositing Engines (offloadCompose): one row per engine while it exists, with its sealed one-time
 * registration token (db/migrations/009_compositing_engines.sql).
 */
export interface EngineRecord {
  id: string;
  taskId: string;
  connectorId: string;
  token: SealedSecret;
  expiresAt: Date;
  registeredAt: Date | null;
  initiatorName: string | null;
}

/** Records a new engine; a second call for the same id (a retried activity) keeps the first token. */
export async function insertEngine(
  pool: Pool,
  engine: { id: string; taskId: string; connectorId: string; token: SealedSecret; expiresAt: Date },
): Promise<void> {
  await pool.query(
    `INSERT INTO compositing_engines (id, task_id, connector_id, token, expires_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [engine.id, engine.taskId, engine.connectorId, JSON.stringify(engine.token), engine.expiresAt],
  );
}

export async function getEngine(pool: Pool, id: string): Promise<EngineRecord | undefined> {
  const { rows } = await pool.query<EngineRecord>(
    `SELECT id, task_id AS "taskId", connector_id AS "connectorId", token, expires_at AS "expiresAt",
            registered_at AS "registeredAt", initiator_name AS "initiatorName"
       FROM compositing_engines WHERE id = $1`,
    [id],
  );
  return rows[0];
}

/**
 * Marks the engine registered as `initiatorName`, once: false when its token has expired, or when it
 * registered already as another initiator (a token is good for one registration; the same one asked
 * again is a retried activity, answered as the first time).
 */
export async function markEngineRegistered(
  pool: Pool,
  id: string,
  initiatorName: string | null,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE compositing_engines SET registered_at = coalesce(registered_at, now()), initiator_name = $2
      WHERE id = $1 AND expires_at > now() AND (registered_at IS NULL OR initiator_name IS NOT DISTINCT FROM $2)`,
    [id, initiatorName],
  );
  return rowCount === 1;
}

export async function deleteEngine(pool: Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM compositing_engines WHERE id = $1', [id]);
}

/** The connector's Offload Compositing setting (false for a connector that does not exist). */
export async function offloadCompositingOf(pool: Pool, connectorId: string): Promise<boolean> {
  const { rows } = await pool.query<{ offload: boolean }>(
    'SELECT offload_compositing AS offload FROM connectors WHERE id = $1',
    [connectorId],
  );
  return rows[0]?.offload ?? false;
}

/** An engine as a task shows it (api/tasks): which it is, on which connector, and whether it registered. */
export interface TaskEngine {
  id: string;
  connectorId: string;
  connectorName: string;
  createdAt: Date;
  registeredAt: Date | null;
}

/** The engines that exist now for these tasks (an offloaded publish and its offloadCompose child). */
export async function enginesOfTasks(pool: Pool, taskIds: string[]): Promise<TaskEngine[]> {
  const { rows } = await pool.query<TaskEngine>(
    `SELECT e.id, e.connector_id AS "connectorId", c.name AS "connectorName", e.created_at AS "createdAt",
            e.registered_at AS "registeredAt"
       FROM compositing_engines e JOIN connectors c ON c.id = e.connector_id
      WHERE e.task_id = ANY($1) ORDER BY e.created_at`,
    [taskIds],
  );
  return rows;
}
