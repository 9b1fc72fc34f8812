import { z } from 'zod';
import { apiTokenList, revokeApiToken } from '../../db/api-tokens';
import { listPage, pageQuery } from '../../db/list-page';
import { createApiToken } from '../auth/api-tokens';
import { identityOf } from '../auth/identity';
import { hasPermission } from '../auth/roles';
import type { ApiDeps } from '../deps';
import { HttpProblem, notFound } from '../problem';
import { pageOf, timestamp } from '../responses';
import { resource, route } from '../route';
import { displayName, idParams } from '../validation';

const apiToken = z.object({
  id: z.uuid(),
  name: z.string(),
  owner: z.string(),
  createdAt: timestamp,
  expiresAt: timestamp,
  revokedAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
});
const createdToken = z.object({
  id: z.uuid(),
  name: z.string(),
  owner: z.string(),
  token: z.string().describe('The bearer secret; shown in this answer only'),
  expiresAt: timestamp,
});

/** A token is a long-lived secret in a script: short lifetimes limit what a leaked one is worth. */
const DEFAULT_TOKEN_DAYS = 30;
const MAX_TOKEN_DAYS = 90;

/**
 * API tokens for scripts. Anyone signed in may make tokens for themselves; a token carries its maker's
 * identity, so it never holds more than its maker. Administrators see and revoke everyone's.
 */
export function tokensResource({ pool }: ApiDeps) {
  return resource('API tokens', '/api/tokens', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listApiTokens',
      response: pageOf(apiToken),
      summary: "List your API tokens (an administrator sees everyone's)",
      access: 'signed-in',
      query: pageQuery,
      handle: ({ query, caller }) =>
        listPage(pool, apiTokenList, {
          ...query,
          owner: hasPermission(caller.roles, 'roles.write') ? undefined : caller.name,
        }),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createApiToken',
      response: createdToken,
      summary: 'Make an API token; the token is shown in this answer only',
      access: 'signed-in',
      body: z.object({
        name: displayName,
        expiresInDays: z
          .number()
          .int()
          .min(1)
          .default(DEFAULT_TOKEN_DAYS)
          .describe(`Days until the token expires; at most ${MAX_TOKEN_DAYS}`),
      }),
      status: 201,
      handle: async ({ body, caller, auditObject }) => {
        if (body.expiresInDays > MAX_TOKEN_DAYS) {
          throw new HttpProblem({
            title: 'Token lifetime too long',
            status: 422,
            detail: `API tokens live at most ${MAX_TOKEN_DAYS} days; expiresInDays was ${body.expiresInDays}.`,
            errors: [{ field: 'body.expiresInDays', message: `must be at most ${MAX_TOKEN_DAYS}` }],
          });
        }
        const created = await createApiToken(
          pool,
          identityOf(caller),
          body.name,
          body.expiresInDays,
          caller.resolvedAt,
        );
        auditObject(created.id);
        return { ...created, name: body.name, owner: caller.name };
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'revokeApiToken',
      summary: 'Revoke an API token',
      access: 'signed-in',
      params: idParams,
      handle: async ({ params, caller }) => {
        const anyOwner = hasPermission(caller.roles, 'roles.write');
        if (!(await revokeApiToken(pool, params.id, caller.name, anyOwner)))
          throw notFound('API token', params.id);
      },
    }),
  ]);
}
