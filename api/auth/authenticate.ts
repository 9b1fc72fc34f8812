import type { Request, RequestHandler } from 'express';
import type { Pool } from 'pg';
import { isMutating } from '../route';
import { findApiTokenIdentity } from './api-tokens';
import { rolesOf, type Caller, type Identity } from './identity';
import { findSession, SESSION_COOKIE } from './sessions';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who is calling, when a session cookie or an API token says so; routes decide what that allows. */
    caller?: Caller;
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
  if (!origin || !isMutating(req.method)) return false;
  try {
    return new URL(origin).host !== req.get('host');
  } catch {
    return true;
  }
}

/** Resolves `Authorization: Bearer <API token>` or the session cookie into `req.caller`; never rejects here. */
export function authenticateRequests(pool: Pool): RequestHandler {
  return async (req, _res, next) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const session = readCookie(req, SESSION_COOKIE);
    let identity: Identity | undefined;
    let via: Caller['via'] = 'session';
    if (bearer) {
      identity = await findApiTokenIdentity(pool, bearer);
      via = 'token';
    } else if (session && !crossSiteWrite(req)) {
      identity = await findSession(pool, session);
    }
    if (identity) req.caller = { ...identity, roles: await rolesOf(pool, identity), via };
    next();
  };
}
