import type { Pool } from 'pg';

/** Local (non-directory) users: today only the built-in administrator. */
export async function localUserPasswordHash(pool: Pool, name: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ password_hash: string }>(
    'SELECT password_hash FROM local_users WHERE name = $1',
    [name],
  );
  return rows[0]?.password_hash;
}

/** Creates the user or replaces its password. */
export async function upsertLocalUser(pool: Pool, name: string, passwordHash: string): Promise<void> {
  await pool.query(
    `INSERT INTO local_users (name, password_hash) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, updated_at = now()`,
    [name, passwordHash],
  );
}

/** Creates the user unless it exists; true when this call created it. */
export async function insertLocalUserIfAbsent(
  pool: Pool,
  name: string,
  passwordHash: string,
): Promise<boolean> {
  const inserted = await pool.query(
    'INSERT INTO local_users (name, password_hash) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
    [name, passwordHash],
  );
  return inserted.rowCount === 1;
}
