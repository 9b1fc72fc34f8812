import type { Request, RequestHandler } from 'express';
import type { Pool } from 'pg';
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
    } else if (session) {
      identity = await findSession(pool, session);
    }
    if (identity) req.caller = { ...identity, roles: await rolesOf(pool, identity), via };
    next();
  };
}
