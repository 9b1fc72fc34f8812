import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { z } from 'zod';
import { listPage, pageQuery } from '../../db/list-page';
import {
  deleteTemplate,
  insertTemplate,
  lockTemplate,
  lockTemplateVersions,
  templateList,
  updateTemplate,
} from '../../db/templates';
import { withTransaction } from '../../db/transaction';
import type { ApiDeps } from '../deps';
import { findOr404 } from '../lookup';
import { invalidFields, notFound } from '../problem';
import { resource, route } from '../route';
import { recordTimes, pageOf } from '../responses';
import { definedFields, fileSafeName, idParams, patchOf } from '../validation';
import {
  refuseTemplateConnectorNotInBuild,
  templateErrors,
  templateFields,
  type TemplateFields,
} from './template-rules';

const template = templateFields.extend({ id: z.uuid(), appVersionIds: z.array(z.uuid()), ...recordTimes });

async function validated(db: PoolClient, fields: TemplateFields): Promise<void> {
  const errors = await templateErrors(db, fields);
  if (errors.length > 0) throw invalidFields(errors);
  await refuseTemplateConnectorNotInBuild(db, fields);
}

/**
 * Image templates. Editing one never changes images already published: those keep their own snapshot.
 * The layer versions a template names are locked while it is saved, so none can be deleted in between.
 */
export function templatesResource({ pool }: ApiDeps) {
  const get = (id: string) => findOr404(pool, templateList, id, 'Image template') as Promise<TemplateFields>;

  return resource('Image templates', '/api/templates', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listTemplates',
      response: pageOf(template),
      summary: 'List image templates',
      access: 'read',
      query: pageQuery.extend({ name: z.string().max(128).optional(), connectorId: z.uuid().optional() }),
      handle: ({ query }) => listPage(pool, templateList, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createTemplate',
      response: template,
      summary: 'Create an image template',
      access: 'templates.write',
      body: templateFields,
      status: 201,
      handle: async ({ body, auditObject }) => {
        const id = randomUUID();
        auditObject(id);
        await withTransaction(pool, async (db) => {
          await lockTemplateVersions(db, body);
          await validated(db, body);
          await insertTemplate(db, id, body);
        });
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getTemplate',
      response: template,
      summary: 'Describe an image template',
      access: 'read',
      params: idParams,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateTemplate',
      response: template,
      summary: 'Edit an image template; the result is validated as a whole',
      access: 'templates.write',
      params: idParams,
      body: patchOf(templateFields),
      handle: async ({ params, body }) => {
        await withTransaction(pool, async (db) => {
          await lockTemplate(db, params.id);
          const current = await get(params.id);
          const merged = { ...current, ...definedFields(body) };
          await lockTemplateVersions(db, merged);
          await validated(db, merged);
          await updateTemplate(db, params.id, merged);
        });
        return get(params.id);
      },
    }),
    route({
      method: 'post',
      path: '/:id/clone',
      operationId: 'cloneTemplate',
      response: template,
      summary: 'Copy an image template under a new name',
      access: 'templates.write',
      params: idParams,
      body: z.object({ name: fileSafeName }),
      status: 201,
      handle: async ({ params, body, auditObject }) => {
        const source = await get(params.id);
        const id = randomUUID();
        auditObject(id);
        const clone = { ...source, name: body.name };
        await withTransaction(pool, async (db) => {
          await lockTemplateVersions(db, clone);
          await validated(db, clone);
          await insertTemplate(db, id, clone);
        });
        return get(id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteTemplate',
      summary: 'Delete an image template (published images keep their snapshot)',
      access: 'templates.write',
      params: idParams,
      handle: async ({ params }) => {
        if (!(await deleteTemplate(pool, params.id))) throw notFound('Image template', params.id);
      },
    }),
  ]);
}
