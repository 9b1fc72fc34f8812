import type { Pool } from 'pg';
import { rolesHeldBy } from '../../db/role-assignments';
import type { Role } from './roles';

/** Who signed in: the built-in administrator, or a directory user with the groups they belong to (DNs). */
export interface Identity {
  /** Canonical name: `administrator`, or `login@domain` for a directory user (task owner, audit actor). */
  name: string;
  kind: 'local' | 'directory';
  dn?: string;
  /** Every group the user is in, nested ones included, as DNs. */
  groups: string[];
  junctionId?: string;
}

/** The identity behind a request, with the roles it holds right now. */
export interface Caller extends Identity {
  roles: Role[];
  via: 'session' | 'token';
  /** When the directory last confirmed a directory identity (its groups, that it exists and is enabled). */
  resolvedAt?: Date;
}

/** An identity as a session or token stores it, with when the directory last confirmed it. */
export interface StoredIdentity {
  identity: Identity;
  resolvedAt: Date;
}

export const BUILT_IN_ADMINISTRATOR = 'administrator';

/** The lasting part of a caller (what a token or session stores); roles are looked up afresh. */
export function identityOf(caller: Caller): Identity {
  const { name, kind, dn, groups, junctionId } = caller;
  return { name, kind, dn, groups, junctionId };
}

/**
 * Roles are looked up on every request rather than frozen into the session, so revoking a role takes
 * effect at once. DNs compare case-insensitively, as directories do.
 */
export async function rolesOf(pool: Pool, identity: Identity): Promise<Role[]> {
  if (identity.kind === 'local' && identity.name === BUILT_IN_ADMINISTRATOR) return ['Administrator'];
  if (!identity.dn) return [];
  return rolesHeldBy<Role>(pool, identity.dn, identity.groups);
}
