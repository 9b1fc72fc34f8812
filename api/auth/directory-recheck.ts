import type { Pool } from 'pg';
import type { SecretBox } from '../../db/secret-box';
import { loadJunctions } from '../directory-junctions/junction-store';
import { resolveUser } from './directory';
import type { Identity, StoredIdentity } from './identity';

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
    // Without a junction and DN there is nothing to ask, so nothing vouches for the identity any more.
    if (!identity.junctionId || !identity.dn) return undefined;
    const key = `${identity.junctionId}\n${identity.dn.toLowerCase()}`;
    let lookUp = this.inFlight.get(key);
    if (!lookUp) {
      lookUp = this.resolve(identity).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, lookUp);
    }
    const fresh = await lookUp;
    if (!fresh) return undefined;
    await save(fresh);
    return { identity: fresh, resolvedAt: new Date() };
  }

  private async resolve(identity: Identity): Promise<Identity | undefined> {
    const junction = (await loadJunctions(this.pool, this.secrets)).find((j) => j.id === identity.junctionId);
    return junction ? resolveUser(junction, identity) : undefined;
  }
}
