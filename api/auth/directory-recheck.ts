import type { Pool } from 'pg';
import type { SecretBox } from '../../config/secret-box';
import { loadJunctions } from '../directory-junctions/junction-store';
import { HttpProblem } from '../problem';
import { DirectoryUnavailableError, resolveUser } from './directory';
import { identityOf, rolesOf, type Caller, type Identity, type StoredIdentity } from './identity';
import type { Role } from './roles';

/**
 * Directory rights are only as current as the directory's last word: a session or token trusts its
 * stored groups for `recheckMs` after the directory confirmed them, then asks the directory again
 * (by the user's DN, as the junction's service account) and stores the answer. Concurrent requests
 * for one user share one look-up.
 */
export class DirectoryRecheck {
  private readonly inFlight = new Map<string, Promise<Identity | undefined>>();

  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
    private readonly recheckMs: number,
  ) {}

  /**
   * The identity as it stands now, or undefined when the directory no longer has the user, has
   * disabled them, or its junction is gone. Throws DirectoryUnavailableError when it cannot be asked.
   */
  async current(
    stored: StoredIdentity,
    save: (identity: Identity) => Promise<void>,
  ): Promise<StoredIdentity | undefined> {
    const { identity, resolvedAt } = stored;
    if (identity.kind !== 'directory') return stored;
    if (Date.now() - new Date(resolvedAt).getTime() < this.recheckMs) return stored;
    const key = `${identity.junctionId}\n${identity.dn?.toLowerCase()}`;
    let lookUp = this.inFlight.get(key);
    if (!lookUp) {
      lookUp = lookUpAgain(this.pool, this.secrets, identity).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, lookUp);
    }
    const fresh = await lookUp;
    if (!fresh) return undefined;
    await save(fresh);
    return { identity: fresh, resolvedAt: new Date() };
  }
}

/** The identity as its directory has it now; undefined when nothing vouches for it any more. */
async function lookUpAgain(
  pool: Pool,
  secrets: SecretBox,
  identity: Identity,
): Promise<Identity | undefined> {
  // Without a junction and DN there is nothing to ask.
  if (!identity.junctionId || !identity.dn) return undefined;
  const junction = (await loadJunctions(pool, secrets)).find((j) => j.id === identity.junctionId);
  return junction ? resolveUser(junction, identity) : undefined;
}

/** The answer when a directory that must vouch for a caller cannot be asked. */
export function directoryUnavailable(err: DirectoryUnavailableError): HttpProblem {
  return new HttpProblem({
    title: 'Directory unavailable',
    status: 503,
    detail: `Your sign-in could not be re-checked with its directory: ${err.message}`,
  });
}

/**
 * The caller's roles as the directory has them this moment, whatever the re-check interval: for acts
 * whose effect outlasts it (granting a role). A user the directory no longer has holds none.
 */
export async function rolesConfirmedNow(pool: Pool, secrets: SecretBox, caller: Caller): Promise<Role[]> {
  if (caller.kind !== 'directory') return caller.roles;
  try {
    const fresh = await lookUpAgain(pool, secrets, identityOf(caller));
    return fresh ? await rolesOf(pool, fresh) : [];
  } catch (err) {
    if (err instanceof DirectoryUnavailableError) throw directoryUnavailable(err);
    throw err;
  }
}
