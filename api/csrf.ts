import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { readCookie } from './auth/authenticate';
import { SESSION_COOKIE } from './auth/sessions';
import { HttpProblem } from './problem';
import { isMutating } from './route';

/** Readable by the console's script (not HttpOnly): it copies the value into CSRF_HEADER. */
export const CSRF_COOKIE = 'lamina_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

/**
 * The session's CSRF token, derived from the session cookie so nothing more is stored: another site can
 * make a browser send the cookie, but cannot read it or this token (SameSite=Strict, same-origin policy).
 * The prefix keeps it from being the session's stored hash (api/auth/opaque-token.ts).
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update(`lamina-csrf:${sessionToken}`).digest('base64url');
}

/** Set beside the session cookie at sign-in (value '' and maxAge 0 at sign-out). */
export function setCsrfCookie(res: Response, value: string, maxAgeMs: number, secure: boolean): void {
  res.cookie(CSRF_COOKIE, value, {
    httpOnly: false,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: maxAgeMs,
  });
}

function sameToken(sent: string, expected: string): boolean {
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Double-submit check for every write made with the session cookie: the request must carry the
 * session's token in X-CSRF-Token. Writes with an API token (Authorization header, which a browser
 * never adds by itself) need none. The Temporal Web UI's codec calls, admitted by their CORS policy,
 * change nothing and cannot read the cookie, so they are let through.
 */
export const requireCsrfToken: RequestHandler = (req, _res, next) => {
  if (req.caller?.via !== 'session' || !isMutating(req.method) || req.crossOriginAllowed) return next();
  const session = readCookie(req, SESSION_COOKIE) ?? '';
  const sent = req.get(CSRF_HEADER);
  if (sent && sameToken(sent, csrfTokenFor(session))) return next();
  next(
    new HttpProblem({
      title: 'CSRF token missing or wrong',
      status: 403,
      detail: `A write signed in with the session cookie must send the ${CSRF_HEADER} header with the value of the ${CSRF_COOKIE} cookie set at sign-in. API tokens need none.`,
    }),
  );
};
