import type { Response } from 'express';
import { z } from 'zod';
import { PERMISSIONS, ROLES, hasPermission } from './roles';
import { csrfTokenFor, setCsrfCookie } from '../csrf';
import type { ApiDeps } from '../deps';
import { timestamp } from '../responses';
import { resource, route } from '../route';
import { readCookie } from './authenticate';
import { rolesOf } from './identity';
import { LoginThrottle } from './login-throttle';
import { createSession, endSession, SESSION_COOKIE } from './sessions';
import { SignInService } from './sign-in';

const loginBody = z.object({
  username: z
    .string()
    .trim()
    .min(1)
    .max(256)
    .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters')
    .describe('administrator, user@domain, DOMAIN\\user or a short name'),
  password: z.string().min(1).max(1024),
});

const signedIn = z.object({
  name: z.string(),
  kind: z.enum(['local', 'directory']),
  roles: z.array(z.enum(ROLES)),
});
const caller = signedIn.extend({
  dn: z.string().optional(),
  groups: z.array(z.string()).describe('Every group, nested ones included, as DNs'),
  junctionId: z.uuid().optional(),
  via: z.enum(['session', 'token']),
  resolvedAt: timestamp
    .optional()
    .describe(
      'When the directory last confirmed the groups; asked again after LAMINA_DIRECTORY_RECHECK_SECONDS',
    ),
  permissions: z.array(z.enum(PERMISSIONS)),
});

function setSessionCookie(res: Response, value: string, maxAgeMs: number, secure: boolean): void {
  res.cookie(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: maxAgeMs,
  });
}

/** Sign-in with a session cookie (HttpOnly, SameSite=Strict), sign-out, and who am I. */
export function authResource({ pool, secrets, auth }: ApiDeps) {
  const signIn = new SignInService(pool, secrets, new LoginThrottle(pool, auth));
  return resource('Sign-in', '/api/auth', [
    route({
      method: 'post',
      path: '/login',
      operationId: 'login',
      response: signedIn,
      summary:
        'Sign in; sets the session cookie and lamina_csrf, the token a write made with the session cookie sends as X-CSRF-Token',
      access: 'public',
      body: loginBody,
      handle: async ({ body, req, res }) => {
        res.locals.audit.actor = body.username;
        const identity = await signIn.signIn(body.username, body.password, req.ip);
        res.locals.audit.actor = identity.name;
        const session = await createSession(pool, identity, auth.sessionTtlMs);
        setSessionCookie(res, session, auth.sessionTtlMs, auth.cookieSecure);
        setCsrfCookie(res, csrfTokenFor(session), auth.sessionTtlMs, auth.cookieSecure);
        return { name: identity.name, kind: identity.kind, roles: await rolesOf(pool, identity) };
      },
    }),
    route({
      method: 'post',
      path: '/logout',
      operationId: 'logout',
      summary: 'Sign out; ends the session',
      access: 'signed-in',
      handle: async ({ req, res }) => {
        const session = readCookie(req, SESSION_COOKIE);
        if (session) await endSession(pool, session);
        setSessionCookie(res, '', 0, auth.cookieSecure);
        setCsrfCookie(res, '', 0, auth.cookieSecure);
      },
    }),
    route({
      method: 'get',
      path: '/me',
      operationId: 'whoAmI',
      response: caller,
      summary: 'The signed-in user, their groups, roles and permissions',
      access: 'signed-in',
      handle: async ({ caller }) => ({
        ...caller,
        permissions: PERMISSIONS.filter((p) => hasPermission(caller.roles, p)),
      }),
    }),
  ]);
}
