import type { Pool } from 'pg';
import type { SecretBox } from '../../db/secret-box';
import { loadJunctions } from '../directory-junctions/junction-store';
import { HttpProblem } from '../problem';
import { verifyLocalUser } from './administrator';
import { authenticate, DirectoryUnavailableError } from './directory';
import { BUILT_IN_ADMINISTRATOR, type Identity } from './identity';
import type { LoginThrottle } from './login-throttle';

/** A login as typed: `user@domain`, `DOMAIN\user` or a short name. */
export interface LoginName {
  user: string;
  domain?: string;
  netbiosName?: string;
}

export function parseLoginName(login: string): LoginName {
  const trimmed = login.trim();
  const backslash = trimmed.indexOf('\\');
  if (backslash > 0) return { netbiosName: trimmed.slice(0, backslash), user: trimmed.slice(backslash + 1) };
  const at = trimmed.lastIndexOf('@');
  if (at > 0) return { user: trimmed.slice(0, at), domain: trimmed.slice(at + 1) };
  return { user: trimmed };
}

const INVALID = new HttpProblem({
  title: 'Sign-in failed',
  status: 401,
  detail: 'The user name or password is wrong.',
});

/**
 * Signs a user in: the built-in administrator by its scrypt hash, anyone else through the directory
 * junctions that match the login's domain (all of them, in priority order, for a short name).
 * Failures are counted per user name, whichever of the three spellings was typed.
 */
export class SignInService {
  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
    private readonly throttle: LoginThrottle,
  ) {}

  async signIn(login: string, password: string): Promise<Identity> {
    const name = parseLoginName(login);
    const lockedMs = await this.throttle.lockedForMs(name.user);
    if (lockedMs > 0) {
      throw new HttpProblem({
        title: 'Sign-in locked',
        status: 429,
        detail: `Too many failed sign-ins for '${name.user}'; try again in ${Math.ceil(lockedMs / 1000)} s.`,
        retryAfterSeconds: Math.ceil(lockedMs / 1000),
      });
    }
    const identity = await this.check(name, password);
    if (!identity) {
      await this.throttle.recordFailure(name.user);
      throw INVALID;
    }
    await this.throttle.recordSuccess(name.user);
    return identity;
  }

  private async check(name: LoginName, password: string): Promise<Identity | undefined> {
    const isAdministrator =
      !name.domain && !name.netbiosName && name.user.toLowerCase() === BUILT_IN_ADMINISTRATOR;
    if (isAdministrator) {
      return (await verifyLocalUser(this.pool, BUILT_IN_ADMINISTRATOR, password))
        ? { name: BUILT_IN_ADMINISTRATOR, kind: 'local', groups: [] }
        : undefined;
    }
    const junctions = (await loadJunctions(this.pool, this.secrets)).filter(
      (j) =>
        (!name.domain || j.settings.domain.toLowerCase() === name.domain.toLowerCase()) &&
        (!name.netbiosName || j.settings.netbiosName.toLowerCase() === name.netbiosName.toLowerCase()),
    );
    const unavailable: string[] = [];
    for (const junction of junctions) {
      try {
        const identity = await authenticate(junction, name.user, password);
        if (identity) return identity;
      } catch (err) {
        if (!(err instanceof DirectoryUnavailableError)) throw err;
        unavailable.push(err.message);
      }
    }
    // Only when no directory could answer is it their fault rather than the password's.
    if (unavailable.length > 0 && unavailable.length === junctions.length) {
      throw new HttpProblem({
        title: 'Directory unavailable',
        status: 503,
        detail: `No directory could be asked: ${unavailable.join('; ')}`,
      });
    }
    return undefined;
  }
}
