import type { Pool } from 'pg';
import type { ListDefinition } from './list-page';

/** One entry of the append-only audit log (never a request body: those can hold secrets). */
export interface AuditEntry {
  actor: string;
  roles: string[];
  action: string;
  objectId: string | null;
  outcome: 'success' | 'denied' | 'failure';
  status: number;
  detail: string | null;
}

export async function insertAuditEntry(pool: Pool, e: AuditEntry): Promise<void> {
  await pool.query(
    `INSERT INTO audit_log (actor, roles, action, object_id, outcome, status, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [e.actor, e.roles, e.action, e.objectId, e.outcome, e.status, e.detail],
  );
}

export const auditList: ListDefinition<object> = {
  select: `SELECT id::text, at, actor, roles, action, object_id AS "objectId", outcome, status, detail FROM audit_log`,
  filters: {
    actor: { column: 'actor', op: 'equals' },
    action: { column: 'action', op: 'equals' },
    objectId: { column: 'object_id', op: 'equals' },
    outcome: { column: 'outcome', op: 'equals' },
    since: { column: 'at', op: 'since' },
    until: { column: 'at', op: 'until' },
  },
  orderBy: 'at DESC, id DESC',
};
