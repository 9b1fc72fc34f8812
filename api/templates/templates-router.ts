import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { z } from 'zod';
import { listPage, pageQuery, type ListDefinition } from '../../db/list-page';
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

const templatesView: ListDefinition<object> = {
  select: `SELECT t.id, t.name, t.description, t.os_version_id AS "osVersionId",
                  t.platform_version_id AS "platformVersionId",
                  array(SELECT a.version_id FROM image_template_app_versions a JOIN layer_versions v ON v.id = a.version_id
                         WHERE a.template_id = t.id ORDER BY v.creation_seq) AS "appVersionIds",
                  t.connector_id AS "connectorId", t.disk_size_gb AS "diskSizeGb", t.disk_format AS "diskFormat",
                  t.firmware, t.elastic_layering AS "elasticLayering", t.user_layer AS "userLayer", t.sysprep,
                  t.created_at AS "createdAt", t.updated_at AS "updatedAt"
             FROM image_templates t`,
  filters: {
    name: { column: 't.name', op: 'contains' },
    connectorId: { column: 't.connector_id', op: 'equals' },
  },
  orderBy: 'name',
};

async function validated(db: PoolClient, fields: TemplateFields): Promise<void> {
  const errors = await templateErrors(db, fields);
  if (errors.length > 0) throw invalidFields(errors);
  await refuseTemplateConnectorNotInBuild(db, fields);
}

/** Writes a template's row and app-version list; priority is the versions' creation order, so no position. */
async function save(db: PoolClient, id: string, t: TemplateFields, insert: boolean): Promise<void> {
  const values = [
    id,
    t.name,
    t.description,
    t.osVersionId,
    t.platformVersionId,
    t.connectorId,
    t.diskSizeGb,
    t.diskFormat,
    t.firmware,
    t.elasticLayering,
    t.userLayer,
    t.sysprep,
  ];
  await db.query(
    insert
      ? `INSERT INTO image_templates (id, name, description, os_version_id, platform_version_id, connector_id,
           disk_size_gb, disk_format, firmware, elastic_layering, user_layer, sysprep)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
      : `UPDATE image_templates SET name = $2, description = $3, os_version_id = $4, platform_version_id = $5,
           connector_id = $6, disk_size_gb = $7, disk_format = $8, firmware = $9, elastic_layering = $10,
           user_layer = $11, sysprep = $12, updated_at = now() WHERE id = $1`,
    values,
  );
  await db.query('DELETE FROM image_template_app_versions WHERE template_id = $1', [id]);
  await db.query(
    'INSERT INTO image_template_app_versions (template_id, version_id) SELECT $1, unnest($2::uuid[])',
    [id, t.appVersionIds],
  );
}

/**
 * Image templates. Editing one never changes images already published: those keep their own snapshot.
 * The layer versions a template names are locked while it is saved, so none can be deleted in between.
 */
export function templatesResource({ pool }: ApiDeps) {
  const get = (id: string) => findOr404(pool, templatesView, id, 'Image template') as Promise<TemplateFields>;
  const lockVersions = (db: PoolClient, t: TemplateFields) =>
    db.query('SELECT 1 FROM layer_versions WHERE id = ANY ($1::uuid[]) FOR SHARE', [
      [t.osVersionId, t.platformVersionId, ...t.appVersionIds].filter(Boolean),
    ]);

  return resource('Image templates', '/api/templates', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listTemplates',
      response: pageOf(template),
      summary: 'List image templates',
      access: 'read',
      query: pageQuery.extend({ name: z.string().max(128).optional(), connectorId: z.uuid().optional() }),
      handle: ({ query }) => listPage(pool, templatesView, query),
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
          await lockVersions(db, body);
          await validated(db, body);
          await save(db, id, body, true);
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
          await db.query('SELECT 1 FROM image_templates WHERE id = $1 FOR UPDATE', [params.id]);
          const current = await get(params.id);
          const merged = { ...current, ...definedFields(body) };
          await lockVersions(db, merged);
          await validated(db, merged);
          await save(db, params.id, merged, false);
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
          await lockVersions(db, clone);
          await validated(db, clone);
          await save(db, id, clone, true);
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
        const { rowCount } = await pool.query('DELETE FROM image_templates WHERE id = $1', [params.id]);
        if (rowCount === 0) throw notFound('Image template', params.id);
      },
    }),
  ]);
}
