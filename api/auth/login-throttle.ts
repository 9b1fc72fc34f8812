import type { Pool } from 'pg';

export interface ThrottlePolicy {
  /** Consecutive failures allowed before the login name is locked. */
  maxFailures: number;
  /** First lock; each further failure doubles it, up to a day. */
  lockoutMs: number;
}

const MAX_LOCK_MS = 24 * 3600_000;

/**
 * Lockout with exponential backoff per login name, kept in Postgres so every API instance sees the
 * same count. The lock holds even for the right password: that is what stops password guessing.
 */
export class LoginThrottle {
  constructor(
    private readonly pool: Pool,
    private readonly policy: ThrottlePolicy,
  ) {}

  /** Milliseconds until `login` may try again, or 0. */
  async lockedForMs(login: string): Promise<number> {
    const { rows } = await this.pool.query<{ ms: number }>(
      `SELECT greatest(0, extract(epoch FROM locked_until - now()) * 1000)::float8 AS ms
         FROM login_failures WHERE login = $1 AND locked_until IS NOT NULL`,
      [normalise(login)],
    );
    return Math.ceil(rows[0]?.ms ?? 0);
  }

  async recordFailure(login: string): Promise<void> {
    const { maxFailures, lockoutMs } = this.policy;
    await this.pool.query(
      `INSERT INTO login_failures AS f (login, failures) VALUES ($1, 1)
       ON CONFLICT (login) DO UPDATE SET failures = f.failures + 1, last_failure = now()`,
      [normalise(login)],
    );
    await this.pool.query(
      `UPDATE login_failures
          SET locked_until = now() + least($2 * power(2, failures - $3), $4) * interval '1 millisecond'
        WHERE login = $1 AND failures >= $3`,
      [normalise(login), lockoutMs, maxFailures, MAX_LOCK_MS],
    );
  }

  async recordSuccess(login: string): Promise<void> {
    await this.pool.query('DELETE FROM login_failures WHERE login = $1', [normalise(login)]);
  }
}

/** `Alice`, `alice` and ` alice ` are one login name for counting failures. */
function normalise(login: string): string {
  return login.trim().toLowerCase();
}
