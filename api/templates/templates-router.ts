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
  templateWarnings,
  templateFields,
  type TemplateFields,
} from './template-rules';

const template = templateFields.extend({ id: z.uuid(), appVersionIds: z.array(z.uuid()), ...recordTimes });
const warning = z.object({ field: z.string(), message: z.string() });
/** What a save answers: the template, and what it may hold but the admin should know. */
const savedTemplate = template.extend({
  warnings: z
    .array(warning)
    .describe(
      'Layer versions made on another version of the OS layer than the template uses: saved, but worth testing or updating',
    ),
});

/** Refuses what cannot be published; answers what can, but deserves a look. */
async function validated(db: PoolClient, fields: TemplateFields): Promise<z.infer<typeof warning>[]> {
  const errors = await templateErrors(db, fields);
  if (errors.length > 0) throw invalidFields(errors);
  await refuseTemplateConnectorNotInBuild(db, fields);
  return templateWarnings(db, fields);
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
      response: savedTemplate,
      summary: 'Create an image template',
      access: 'templates.write',
      body: templateFields,
      status: 201,
      handle: async ({ body, auditObject }) => {
        const id = randomUUID();
        auditObject(id);
        const warnings = await withTransaction(pool, async (db) => {
          await lockTemplateVersions(db, body);
          const found = await validated(db, body);
          await insertTemplate(db, id, body);
          return found;
        });
        return { ...(await get(id)), warnings };
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getTemplate',
      response: savedTemplate,
      summary: "Describe an image template, with warnings about its layer versions' OS versions",
      access: 'read',
      params: idParams,
      handle: async ({ params }) => {
        const found = await get(params.id);
        return { ...found, warnings: await templateWarnings(pool, found) };
      },
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateTemplate',
      response: savedTemplate,
      summary: 'Edit an image template; the result is validated as a whole',
      access: 'templates.write',
      params: idParams,
      body: patchOf(templateFields),
      handle: async ({ params, body }) => {
        const warnings = await withTransaction(pool, async (db) => {
          await lockTemplate(db, params.id);
          const current = await get(params.id);
          const merged = { ...current, ...definedFields(body) };
          await lockTemplateVersions(db, merged);
          const found = await validated(db, merged);
          await updateTemplate(db, params.id, merged);
          return found;
        });
        return { ...(await get(params.id)), warnings };
      },
    }),
    route({
      method: 'post',
      path: '/:id/clone',
      operationId: 'cloneTemplate',
      response: savedTemplate,
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
        const warnings = await withTransaction(pool, async (db) => {
          await lockTemplateVersions(db, clone);
          const found = await validated(db, clone);
          await insertTemplate(db, id, clone);
          return found;
        });
        return { ...(await get(id)), warnings };
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
