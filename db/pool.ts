import { Pool } from 'pg';

/**
 * One pool per process. `connectionTimeoutMillis` bounds both connecting and waiting for a free
 * client: a burst of requests on a busy machine (40 tasks started at once at load 10) waited more
 * than 5 s for one of the 10 clients and answered 500, so the wait is longer (not the pool: a
 * scale-out test runs five pools against one server's 100 connections). A database that refuses
 * connections is still reported at once; only one that never answers waits.
 */
export function createPool(databaseUrl: string): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 20_000 });
  // An idle client losing its server must not crash the process; the next query reports the problem.
  pool.on('error', () => undefined);
  return pool;
}

/** The API's readiness probe: resolves once the database answers a query. */
export async function pingDatabase(pool: Pool): Promise<void> {
  await pool.query('SELECT 1');
}
