import { Pool } from 'pg';

/** One pool per process; short connect timeout so an unreachable database is reported quickly. */
export function createPool(databaseUrl: string): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 5000 });
  // An idle client losing its server must not crash the process; the next query reports the problem.
  pool.on('error', () => undefined);
  return pool;
}

/** The API's readiness probe: resolves once the database answers a query. */
export async function pingDatabase(pool: Pool): Promise<void> {
  await pool.query('SELECT 1');
}
