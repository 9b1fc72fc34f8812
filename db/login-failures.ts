import type { Pool, PoolClient } from 'pg';

/**
 * Sign-in failures counted per (scope, subject): a user name or a client address. The throttle's
 * policy lives in the API (api/auth/login-throttle.ts); these are its statements.
 */
export type ThrottleScope = 'user' | 'client';

export interface FailureLimit {
  maxFailures: number;
  lockoutMs: number;
  maxLockMs: number;
}

/** Failures older than this are forgotten and their rows purged, so the table holds a day of attempts at most. */
const FAILURE_MEMORY = '1 day';

/**
 * Counts one attempt for (scope, subject) unless that subject is locked (or `ignoreLock`), in one
 * statement: the row lock of the upsert serialises concurrent attempts, so N parallel attempts see
 * counts 1..N and only those below the limit pass. The attempt counts as a failure until it is known
 * to be a success; reaching the limit locks at once, doubling per further failure up to `maxLockMs`.
 * Resolves the count including this attempt, or undefined when locked.
 */
export async function reserveAttempt(
  client: PoolClient,
  scope: ThrottleScope,
  subject: string,
  limit: FailureLimit,
  ignoreLock = false,
): Promise<number | undefined> {
  const lockFor = (count: string) =>
    `CASE WHEN ${count} >= $3 THEN now() + least($4::float8 * power(2, ${count} - $3), $5) * interval '1 millisecond' END`;
  const count = `CASE WHEN f.last_attempt < now() - interval '${FAILURE_MEMORY}' THEN 1 ELSE f.failures + 1 END`;
  const { rows } = await client.query<{ failures: number }>(
    `INSERT INTO login_failures AS f (scope, subject, failures, locked_until, last_attempt)
     VALUES ($1, $2, 1, ${lockFor('1')}, now())
     ON CONFLICT (scope, subject) DO UPDATE
        SET failures = ${count}, locked_until = ${lockFor(count)}, last_attempt = now()
      WHERE f.locked_until IS NULL OR f.locked_until <= now() OR $6
     RETURNING failures`,
    [scope, subject, limit.maxFailures, limit.lockoutMs, limit.maxLockMs, ignoreLock],
  );
  return rows[0]?.failures;
}

/** How long (scope, subject) stays locked, in ms (0 when it is not). */
export async function lockedForMs(
  client: PoolClient,
  scope: ThrottleScope,
  subject: string,
): Promise<number> {
  const { rows } = await client.query<{ ms: number }>(
    `SELECT greatest(0, extract(epoch FROM locked_until - now()) * 1000)::float8 AS ms
       FROM login_failures WHERE scope = $1 AND subject = $2`,
    [scope, subject],
  );
  return Math.ceil(rows[0]?.ms ?? 0);
}

/** Purges rows whose failures are forgotten and whose lock has ended. */
export async function purgeForgottenFailures(pool: Pool): Promise<void> {
  await pool.query(
    `DELETE FROM login_failures
      WHERE last_attempt < now() - interval '${FAILURE_MEMORY}'
        AND (locked_until IS NULL OR locked_until < now())`,
  );
}

/** Forgets a subject's failures (and lock). */
export async function clearFailures(pool: Pool, scope: ThrottleScope, subject: string): Promise<void> {
  await pool.query('DELETE FROM login_failures WHERE scope = $1 AND subject = $2', [scope, subject]);
}

/** Takes one counted attempt back (its lock, if any, stays). */
export async function giveBackAttempt(pool: Pool, scope: ThrottleScope, subject: string): Promise<void> {
  await pool.query(
    `UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE scope = $1 AND subject = $2`,
    [scope, subject],
  );
}
