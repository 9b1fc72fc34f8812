import type { Pool } from 'pg';
import type { SealedSecret } from '../config/secret-box';
import type { ListDefinition } from './list-page';

/** Directory junctions: the AD / LDAP directories users sign in from; settings are the API's JSON value. */
export interface JunctionFields {
  name: string;
  priority: number;
  settings: object;
  bindPassword: SealedSecret;
}

export interface StoredJunction {
  id: string;
  name: string;
  settings: unknown;
  bindPassword: SealedSecret | null;
}

/** Every junction with its sealed bind password, in the order sign-in tries them. */
export async function listJunctionsWithSecrets(pool: Pool): Promise<StoredJunction[]> {
  const { rows } = await pool.query<StoredJunction>(
    'SELECT id, name, settings, bind_password AS "bindPassword" FROM directory_junctions ORDER BY priority, name',
  );
  return rows;
}

export async function insertJunction(pool: Pool, id: string, j: JunctionFields): Promise<void> {
  await pool.query(
    `INSERT INTO directory_junctions (id, name, priority, settings, bind_password) VALUES ($1, $2, $3, $4, $5)`,
    [id, j.name, j.priority, JSON.stringify(j.settings), JSON.stringify(j.bindPassword)],
  );
}

/** Changes the given fields; settings are replaced as a whole. */
export async function updateJunction(pool: Pool, id: string, j: Partial<JunctionFields>): Promise<void> {
  await pool.query(
    `UPDATE directory_junctions SET name = coalesce($2, name), priority = coalesce($3, priority),
            settings = coalesce($4, settings), bind_password = coalesce($5, bind_password), updated_at = now()
      WHERE id = $1`,
    [
      id,
      j.name,
      j.priority,
      j.settings && JSON.stringify(j.settings),
      j.bindPassword && JSON.stringify(j.bindPassword),
    ],
  );
}

/** False when there was no such junction. */
export async function deleteJunction(pool: Pool, id: string): Promise<boolean> {
  const { rowCount } = await pool.query('DELETE FROM directory_junctions WHERE id = $1', [id]);
  return rowCount !== 0;
}

/** Junctions as listed: whether a bind password is set, never the password. */
export const junctionList: ListDefinition<object> = {
  select: `SELECT id, name, priority, settings, bind_password IS NOT NULL AS "bindPasswordSet",
                  created_at AS "createdAt", updated_at AS "updatedAt"
             FROM directory_junctions`,
  filters: { name: { column: 'name', op: 'contains' } },
  orderBy: 'priority, name',
};
