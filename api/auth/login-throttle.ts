import { isIPv4, isIPv6 } from 'node:net';
import type { Pool } from 'pg';
import {
  clearFailures,
  giveBackAttempt,
  lockedForMs,
  purgeForgottenFailures,
  reserveAttempt,
  type ThrottleScope,
} from '../../db/login-failures';
import { withTransaction } from '../../db/transaction';

export interface ThrottlePolicy {
  /** Failures allowed per user name before it is locked. */
  maxFailures: number;
  /** First lock; each further failure doubles it. */
  lockoutMs: number;
}

/** A user name's lock never exceeds a day… */
const MAX_USER_LOCK_MS = 24 * 3600_000;
/** …the built-in administrator's never 5 minutes: anyone who can reach the API could otherwise lock it for long. */
const MAX_ADMINISTRATOR_LOCK_MS = 5 * 60_000;
/** An address may fail this many times the per-user limit (over any names) before it is locked itself. */
const CLIENT_FAILURES_PER_USER_LIMIT = 10;
/** An address's lock stays short: an office behind one NAT address shares it. */
const MAX_CLIENT_LOCK_MS = 3600_000;

/** A sign-in attempt that was let through to the password check; it already counts as a failure. */
export interface Attempt {
  user: string;
  client: string;
}

/** Why an attempt was refused before its password was checked. */
export interface Refusal {
  scope: ThrottleScope;
  lockedMs: number;
}

class Locked extends Error {
  constructor(readonly refusal: Refusal) {
    super(`locked (${refusal.scope})`);
  }
}

/**
 * Sign-in throttle in Postgres (every API instance sees the same counts), per user name and per client
 * address. An attempt is reserved — counted as a failure — before its password is checked, so
 * concurrent attempts cannot get more checks than the limit allows. A user name's lock holds even for
 * the right password (that is what stops guessing), with one exception: the built-in administrator,
 * whose lock is capped at 5 minutes and which an address without failures may still try, so one
 * client's flood cannot lock the administrator out of the appliance. Each address so gets one guess at
 * the administrator while it is locked; IPv6 addresses count per /64, the size one subscriber holds.
 */
export class LoginThrottle {
  constructor(
    private readonly pool: Pool,
    private readonly policy: ThrottlePolicy,
  ) {}

  private get clientLimit() {
    return {
      maxFailures: this.policy.maxFailures * CLIENT_FAILURES_PER_USER_LIMIT,
      lockoutMs: this.policy.lockoutMs,
      maxLockMs: MAX_CLIENT_LOCK_MS,
    };
  }

  private userLimit(isAdministrator: boolean) {
    return {
      maxFailures: this.policy.maxFailures,
      lockoutMs: Math.min(this.policy.lockoutMs, isAdministrator ? MAX_ADMINISTRATOR_LOCK_MS : Infinity),
      maxLockMs: isAdministrator ? MAX_ADMINISTRATOR_LOCK_MS : MAX_USER_LOCK_MS,
    };
  }

  /**
   * Reserves an attempt for `login` from `address`: the address first (a locked address creates no
   * user-name rows, which bounds what one client can add), then the user name. Refused attempts change
   * no count.
   */
  async begin(
    login: string,
    address: string | undefined,
    isAdministrator: boolean,
  ): Promise<Attempt | Refusal> {
    const attempt = { user: normalise(login), client: clientKey(address) };
    try {
      return await withTransaction(this.pool, async (db) => {
        const clientCount = await reserveAttempt(db, 'client', attempt.client, this.clientLimit);
        if (clientCount === undefined) {
          throw new Locked({ scope: 'client', lockedMs: await lockedForMs(db, 'client', attempt.client) });
        }
        const cleanClient = clientCount === 1;
        const userCount = await reserveAttempt(
          db,
          'user',
          attempt.user,
          this.userLimit(isAdministrator),
          isAdministrator && cleanClient,
        );
        if (userCount === undefined) {
          throw new Locked({ scope: 'user', lockedMs: await lockedForMs(db, 'user', attempt.user) });
        }
        return attempt;
      });
    } catch (err) {
      if (err instanceof Locked) return err.refusal;
      throw err;
    }
  }

  /** The password was wrong: the reservation stands as the failure; rows older than a day go. */
  async failed(): Promise<void> {
    await purgeForgottenFailures(this.pool);
  }

  /** The right password: the user name starts afresh; the address gets its attempt back (its lock stays). */
  async succeeded(attempt: Attempt): Promise<void> {
    await clearFailures(this.pool, 'user', attempt.user);
    await giveBackAttempt(this.pool, 'client', attempt.client);
  }

  /** The password could not be checked (directory down): neither side is charged for it. */
  async released(attempt: Attempt): Promise<void> {
    await giveBackAttempt(this.pool, 'user', attempt.user);
    await giveBackAttempt(this.pool, 'client', attempt.client);
  }
}

/** `Alice`, `alice` and ` alice ` are one login name for counting failures. */
function normalise(login: string): string {
  return login.trim().toLowerCase();
}

/** The address failures are counted for: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head, tail] = address.split('%')[0].split('::');
  const width = (part: string | undefined) =>
    part ? part.split(':').reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0) : 0;
  const groups = [
    ...(head ? head.split(':') : []),
    ...Array<string>(tail === undefined ? 0 : 8 - width(head) - width(tail)).fill('0'),
    ...(tail ? tail.split(':') : []),
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
