import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { deleteJunction, insertJunction, junctionList, updateJunction } from '../../db/directory-junctions';
import { listPage, pageQuery } from '../../db/list-page';
import type { ApiDeps } from '../deps';
import { notFound } from '../problem';
import { pageOf, recordTimes } from '../responses';
import { resource, route } from '../route';
import { displayName, idParams, patchOf } from '../validation';
import { findOr404 } from '../lookup';
import { checkJunction } from '../auth/directory';
import { junctionSettings } from './junction-settings';
import { loadJunctions } from './junction-store';

const junctionBody = z.object({
  name: displayName,
  priority: z.number().int().min(0).max(10_000).default(100).describe('Lower is tried first for short names'),
  settings: junctionSettings,
  bindPassword: z.string().min(1).max(1024).describe('Write-only: the response only says whether it is set'),
});
const junctionPatch = patchOf(junctionBody);

const junction = z.object({
  id: z.uuid(),
  name: z.string(),
  priority: z.number().int(),
  settings: junctionSettings,
  bindPasswordSet: z.boolean(),
  ...recordTimes,
});

const listQuery = pageQuery.extend({ name: z.string().max(128).optional() });

/** Directory junctions: the AD / LDAP directories users sign in from. */
export function junctionsResource({ pool, secrets }: ApiDeps) {
  const get = (id: string) => findOr404(pool, junctionList, id, 'Directory junction');
  return resource('Directory junctions', '/api/directory-junctions', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listDirectoryJunctions',
      response: pageOf(junction),
      summary: 'List directory junctions',
      access: 'read',
      query: listQuery,
      handle: ({ query }) => listPage(pool, junctionList, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createDirectoryJunction',
      response: junction,
      summary: 'Join an Active Directory or LDAP directory',
      access: 'directory.write',
      body: junctionBody,
      status: 201,
      handle: async ({ body, auditObject }) => {
        const id = randomUUID();
        auditObject(id);
        await insertJunction(pool, id, { ...body, bindPassword: secrets.seal(body.bindPassword) });
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getDirectoryJunction',
      response: junction,
      summary: 'Describe a directory junction',
      access: 'read',
      params: idParams,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateDirectoryJunction',
      response: junction,
      summary: 'Change a directory junction (settings are replaced as a whole when given)',
      access: 'directory.write',
      params: idParams,
      body: junctionPatch,
      handle: async ({ params, body }) => {
        await get(params.id);
        await updateJunction(pool, params.id, {
          ...body,
          bindPassword: body.bindPassword ? secrets.seal(body.bindPassword) : undefined,
        });
        return get(params.id);
      },
    }),
    route({
      method: 'post',
      path: '/:id/test',
      operationId: 'testDirectoryJunction',
      summary: 'Connect, bind as the service account and read the base DN; names the setting that fails',
      access: 'directory.write',
      params: idParams,
      response: z.object({
        ok: z.boolean(),
        checks: z.array(z.object({ field: z.string(), ok: z.boolean(), message: z.string() })),
      }),
      handle: async ({ params }) => {
        await get(params.id);
        const junction = (await loadJunctions(pool, secrets)).find((j) => j.id === params.id)!;
        const checks = await checkJunction(junction);
        return { ok: checks.every((c) => c.ok), checks };
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteDirectoryJunction',
      summary: 'Remove a directory junction (its users can no longer sign in)',
      access: 'directory.write',
      params: idParams,
      handle: async ({ params }) => {
        if (!(await deleteJunction(pool, params.id))) throw notFound('Directory junction', params.id);
      },
    }),
  ]);
}
