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

/** SQLSTATEs of a server shutting down or not yet up (admin_shutdown, crash_shutdown, cannot_connect_now). */
const SERVER_GOING = new Set(['57P01', '57P02', '57P03']);
/** node-postgres's own messages for a connection lost or never had. */
const CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect)/;

/**
 * Whether `err` (or anything in its cause chain) says the pool's database was not reached or went away
 * mid-query, rather than that a query failed: a connection the database's port refused, one it ended,
 * a server shutting down or starting up. Other services' network errors (a vCenter, a directory) do not
 * count: a refused connection counts only when it was to the database's port.
 */
export function isDatabaseUnreachable(pool: Pool, err: unknown): boolean {
  const url = new URL(pool.options.connectionString ?? 'postgres://localhost');
  const port = Number(url.port || 5432);
  // Duck-typed, not `instanceof Error`: socket errors come from Node's own realm, which is not the
  // caller's under a test runner's sandbox.
  type Failure = { code?: string; message?: string; port?: number; cause?: unknown; errors?: unknown[] };
  for (let e = err as Failure | undefined; e && typeof e === 'object'; e = e.cause as Failure | undefined) {
    for (const one of [e, ...((Array.isArray(e.errors) ? e.errors : []) as Failure[])]) {
      if (SERVER_GOING.has(one.code ?? '') || CONNECTION_LOST.test(one.message ?? '')) return true;
      if (one.code === 'ECONNREFUSED' && one.port === port) return true;
    }
  }
  return false;
}

/** The API's readiness probe: resolves once the database answers a query. */
export async function pingDatabase(pool: Pool): Promise<void> {
  await pool.query('SELECT 1');
}
