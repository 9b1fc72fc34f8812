import type { Pool } from 'pg';
import type { SecretBox } from '../../config/secret-box';
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

function isAdministrator(name: LoginName): boolean {
  return !name.domain && !name.netbiosName && name.user.toLowerCase() === BUILT_IN_ADMINISTRATOR;
}

const INVALID = new HttpProblem({
  title: 'Sign-in failed',
  status: 401,
  detail: 'The user name or password is wrong.',
});

/**
 * Signs a user in: the built-in administrator by its scrypt hash, anyone else through the directory
 * junctions that match the login's domain (all of them, in priority order, for a short name).
 * Failures are counted per user name (whichever of the three spellings was typed) and per client
 * address, before the password is checked (see LoginThrottle).
 */
export class SignInService {
  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
    private readonly throttle: LoginThrottle,
  ) {}

  async signIn(login: string, password: string, clientAddress: string | undefined): Promise<Identity> {
    const name = parseLoginName(login);
    const attempt = await this.throttle.begin(name.user, clientAddress, isAdministrator(name));
    if ('lockedMs' in attempt) {
      const seconds = Math.max(1, Math.ceil(attempt.lockedMs / 1000));
      throw new HttpProblem({
        title: 'Sign-in locked',
        status: 429,
        detail:
          attempt.scope === 'user'
            ? `Too many failed sign-ins for '${name.user}'; try again in ${seconds} s.`
            : `Too many failed sign-ins from your address; try again in ${seconds} s.`,
        retryAfterSeconds: seconds,
      });
    }
    let identity: Identity | undefined;
    try {
      identity = await this.check(name, password);
    } catch (err) {
      await this.throttle.released(attempt);
      throw err;
    }
    if (!identity) {
      await this.throttle.failed();
      throw INVALID;
    }
    await this.throttle.succeeded(attempt);
    return identity;
  }

  private async check(name: LoginName, password: string): Promise<Identity | undefined> {
    if (isAdministrator(name)) {
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
