import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';
import { projectRoot } from '../lib/project-root';

/** Arbitrary constant: serialises concurrent migrators (API and worker starting together). */
const MIGRATION_LOCK = 0x4c414d49; // 'LAMI'

export function migrationsDir(): string {
  return path.join(projectRoot(), 'db', 'migrations');
}

/**
 * Applies the SQL files in db/migrations in name order, each once, each in its own transaction.
 * Forward only: a migration never drops data it does not move somewhere else first.
 */
export async function migrate(pool: Pool, dir = migrationsDir()): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         name text PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ name: string }>('SELECT name FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.name));
    const pending = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sql') && !applied.has(f))
      .sort();
    for (const name of pending) {
      const sql = fs.readFileSync(path.join(dir, name), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${name} failed: ${(err as Error).message}`);
      }
    }
    return pending;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}

/** The server's version and how many migrations are applied, for the diagnostics task. */
export async function databaseStatus(pool: Pool): Promise<{ version: string; migrations: string }> {
  const { rows } = await pool.query<{ version: string; migrations: string }>(
    `SELECT current_setting('server_version') AS version,
            (SELECT count(*) FROM schema_migrations)::text AS migrations`,
  );
  return rows[0];
}
