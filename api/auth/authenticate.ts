import type { Request, RequestHandler } from 'express';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { isMutating } from '../route';
import { findApiTokenIdentity, saveApiTokenIdentity } from './api-tokens';
import { DirectoryUnavailableError } from './directory';
import { DirectoryRecheck, directoryUnavailable } from './directory-recheck';
import { rolesOf, type Caller, type Identity, type StoredIdentity } from './identity';
import { findSession, saveSessionIdentity, SESSION_COOKIE } from './sessions';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who is calling, when a session cookie or an API token says so; routes decide what that allows. */
    caller?: Caller;
    /** Why credentials that were sent could not be honoured right now (a 503), answered instead of a 401. */
    callerProblem?: HttpProblem;
    /** Set by a CORS policy that admits the request's origin with credentials (the Temporal Web UI's codec calls). */
    crossOriginAllowed?: boolean;
  }
}

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/**
 * A browser sends the session cookie with any request to the appliance, also one another site makes it
 * send. SameSite=Strict already stops that in current browsers; as a second line, a cookie-borne write
 * whose Origin is not this host counts as unauthenticated.
 */
function crossSiteWrite(req: Request): boolean {
  const origin = req.get('origin');
  if (!origin || !isMutating(req.method) || req.crossOriginAllowed) return false;
  try {
    return new URL(origin).host !== req.get('host');
  } catch {
    return true;
  }
}

/** What a request's credentials name, and where a re-checked identity is stored back. */
interface Credentials {
  stored: StoredIdentity | undefined;
  save(identity: Identity): Promise<void>;
  via: Caller['via'];
}

/**
 * Resolves `Authorization: Bearer <API token>` or the session cookie into `req.caller`, with the roles
 * its identity holds now; never rejects here. A directory identity is re-checked with its directory
 * once its last confirmation is older than `recheckMs`: a user the directory no longer has, or has
 * disabled, is no caller (401); a directory that cannot be asked then leaves `req.callerProblem` (503
 * naming the junction) instead of trusting stale groups.
 */
export function authenticateRequests({
  pool,
  secrets,
  auth,
}: Pick<ApiDeps, 'pool' | 'secrets' | 'auth'>): RequestHandler {
  const recheck = new DirectoryRecheck(pool, secrets, auth.directoryRecheckMs);
  return async (req, _res, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const session = readCookie(req, SESSION_COOKIE);
    const found: Credentials | undefined = bearer
      ? {
          stored: await findApiTokenIdentity(pool, bearer),
          save: (identity) => saveApiTokenIdentity(pool, bearer, identity),
          via: 'token',
        }
      : session && !crossSiteWrite(req)
        ? {
            stored: await findSession(pool, session),
            save: (identity) => saveSessionIdentity(pool, session, identity),
            via: 'session',
          }
        : undefined;
    if (!found?.stored) return next();
    const { stored, save, via } = found;
    try {
      const current = await recheck.current(stored, save);
      if (current) {
        req.caller = { ...current.identity, roles: await rolesOf(pool, current.identity), via };
        if (current.identity.kind === 'directory') req.caller.resolvedAt = current.resolvedAt;
      }
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError)) throw err;
      req.callerProblem = directoryUnavailable(err);
    }
    next();
  };
}
