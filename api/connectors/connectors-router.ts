import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CONNECTOR_TYPES, CONNECTOR_TYPE_NAMES, type ConnectorType } from '../../connectors/registry';
import { listPage, pageQuery, type ListDefinition } from '../../db/list-page';
import type { SealedSecret } from '../../config/secret-box';
import { withTransaction } from '../../db/transaction';
import type { ApiDeps } from '../deps';
import { findOr404 } from '../lookup';
import { refuseIfInUse } from '../in-use';
import { HttpProblem, notFound } from '../problem';
import { resource, route } from '../route';
import { pageOf, recordTimes } from '../responses';
import { taskSchema } from '../tasks/task-schemas';
import { idParams, parseRequestPart } from '../validation';
import { createConnectorBody, typedPatchOf, updateConnectorBody } from './connector-schemas';
import { refuseConnectorNotInBuild } from './not-in-build';
import { withTaskLocation } from '../tasks/task-location';

interface ConnectorRow {
  id: string;
  type: ConnectorType;
  secrets: Record<string, SealedSecret>;
  cacheHits: string;
  cacheLookups: string;
  [column: string]: unknown;
}

const connector = z.object({
  id: z.uuid(),
  type: z.enum(CONNECTOR_TYPE_NAMES),
  name: z.string(),
  settings: z.record(z.string(), z.unknown()),
  secretsSet: z.record(z.string(), z.boolean()).describe('Whether each secret field is set; never its value'),
  offloadCompositing: z.boolean(),
  packagingCacheGb: z.number().int(),
  packagingCacheHitRate: z
    .number()
    .nullable()
    .describe('Share of packaging cache lookups that hit; null before any'),
  postPublishScript: z.string().nullable(),
  implemented: z.boolean().describe('Whether this build has the code that talks to this platform'),
  ...recordTimes,
});
const connectorType = z.object({
  type: z.enum(CONNECTOR_TYPE_NAMES),
  label: z.string(),
  settings: z.record(z.string(), z.unknown()).describe('JSON Schema of the settings'),
  secretFields: z.array(z.string()),
  defaultPackagingCacheGb: z.number().int().optional(),
  imageFormats: z.record(z.string(), z.array(z.string())),
  maxDiskGb: z.number().int(),
  capabilities: z
    .array(z.enum(['vms', 'images']))
    .describe(
      'vms: packaging machines and MCS master images run there; images: image files are copied there',
    ),
  implemented: z.boolean(),
});

/** Secrets leave only as "set or not"; the cache hit rate is derived from its counters. */
const connectorsView: ListDefinition<ConnectorRow> = {
  select: `SELECT id, type, name, settings, secrets, offload_compositing AS "offloadCompositing",
                  packaging_cache_gb AS "packagingCacheGb", cache_hits AS "cacheHits",
                  cache_lookups AS "cacheLookups", post_publish_script AS "postPublishScript",
                  created_at AS "createdAt", updated_at AS "updatedAt"
             FROM connectors`,
  filters: { type: { column: 'type', op: 'equals' }, name: { column: 'name', op: 'contains' } },
  orderBy: 'name',
  toItem: ({ secrets, cacheHits, cacheLookups, ...row }) => {
    const definition = CONNECTOR_TYPES[row.type];
    return {
      ...row,
      secretsSet: Object.fromEntries((definition?.secretFields ?? []).map((f) => [f, f in secrets])),
      packagingCacheHitRate: Number(cacheLookups) > 0 ? Number(cacheHits) / Number(cacheLookups) : null,
      implemented: definition?.create !== undefined,
    };
  },
};

const listQuery = pageQuery.extend({
  type: z.enum(CONNECTOR_TYPE_NAMES).optional(),
  name: z.string().max(128).optional(),
});

/** Connector configurations (ARCHITECTURE.md §3, §7). */
export function connectorsResource({ pool, secrets, tasks, ownDirs }: ApiDeps) {
  const get = (id: string) => findOr404(pool, connectorsView, id, 'Connector configuration');

  /** Settings naming places on the appliance (a share's mount point) must hold there: a 422 names each. */
  const checkOnHost = async (type: ConnectorType, settings: Record<string, unknown> | undefined) => {
    const problems = settings ? ((await CONNECTOR_TYPES[type].checkOnHost?.(settings, ownDirs)) ?? []) : [];
    if (problems.length > 0)
      throw new HttpProblem({
        title: 'Setting not allowed on this appliance',
        status: 422,
        detail: problems.map((p) => `body.settings.${p.setting}: ${p.message}.`).join(' '),
        errors: problems.map((p) => ({ field: `body.settings.${p.setting}`, message: p.message })),
      });
  };

  const seal = (values: Record<string, string | null | undefined>, into: Record<string, SealedSecret>) => {
    const sealed = { ...into };
    for (const [field, value] of Object.entries(values)) {
      if (value === null) delete sealed[field];
      else if (value !== undefined) sealed[field] = secrets.seal(value);
    }
    return sealed;
  };

  return resource('Connectors', '/api/connectors', [
    route({
      method: 'get',
      path: '/types',
      operationId: 'listConnectorTypes',
      response: z.array(connectorType),
      summary: 'Connector types, their settings (JSON Schema), secret fields and image capabilities',
      access: 'read',
      handle: async () =>
        CONNECTOR_TYPE_NAMES.map((type) => {
          const {
            label,
            settings,
            secretFields,
            defaultPackagingCacheGb,
            imageFormats,
            maxDiskGb,
            capabilities,
          } = CONNECTOR_TYPES[type];
          return {
            type,
            label,
            settings: z.toJSONSchema(settings, { io: 'input' }),
            secretFields,
            defaultPackagingCacheGb,
            imageFormats,
            maxDiskGb,
            capabilities,
            implemented: CONNECTOR_TYPES[type].create !== undefined,
          };
        }),
    }),
    route({
      method: 'get',
      path: '/',
      operationId: 'listConnectors',
      response: pageOf(connector),
      summary: 'List connector configurations',
      access: 'read',
      query: listQuery,
      handle: ({ query }) => listPage(pool, connectorsView, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createConnector',
      response: connector,
      summary: 'Create a connector configuration',
      access: 'connectors.write',
      body: createConnectorBody,
      status: 201,
      handle: async ({ body, auditObject }) => {
        const type = body.type as ConnectorType;
        await checkOnHost(type, body.settings as Record<string, unknown>);
        const id = randomUUID();
        auditObject(id);
        await pool.query(
          `INSERT INTO connectors (id, type, name, settings, secrets, offload_compositing, packaging_cache_gb,
                                   post_publish_script)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            id,
            type,
            body.name,
            JSON.stringify(body.settings),
            JSON.stringify(seal(body.secrets as Record<string, string>, {})),
            body.offloadCompositing,
            (body.packagingCacheGb as number | undefined) ??
              CONNECTOR_TYPES[type].defaultPackagingCacheGb ??
              0,
            body.postPublishScript,
          ],
        );
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getConnector',
      response: connector,
      summary: 'Describe a connector configuration',
      access: 'read',
      params: idParams,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateConnector',
      response: connector,
      summary: 'Edit a connector configuration (its type stays)',
      access: 'connectors.write',
      params: idParams,
      body: updateConnectorBody,
      handle: async ({ params, body }) => {
        await withTransaction(pool, async (client) => {
          const { rows } = await client.query<{ type: ConnectorType; secrets: Record<string, SealedSecret> }>(
            'SELECT type, secrets FROM connectors WHERE id = $1 FOR UPDATE',
            [params.id],
          );
          if (!rows[0]) throw notFound('Connector configuration', params.id);
          const typed = parseRequestPart(typedPatchOf(CONNECTOR_TYPES[rows[0].type]), body, 'body');
          await checkOnHost(rows[0].type, typed.settings);
          await client.query(
            `UPDATE connectors SET name = coalesce($2, name), settings = coalesce($3, settings), secrets = $4,
                    offload_compositing = coalesce($5, offload_compositing),
                    packaging_cache_gb = coalesce($6, packaging_cache_gb),
                    post_publish_script = CASE WHEN $7 THEN $8 ELSE post_publish_script END,
                    updated_at = now()
              WHERE id = $1`,
            [
              params.id,
              body.name,
              typed.settings && JSON.stringify(typed.settings),
              JSON.stringify(seal((typed.secrets ?? {}) as Record<string, string | null>, rows[0].secrets)),
              body.offloadCompositing,
              body.packagingCacheGb,
              body.postPublishScript !== undefined,
              body.postPublishScript,
            ],
          );
        });
        return get(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteConnector',
      summary: 'Delete a connector configuration that no template or layer uses',
      access: 'connectors.write',
      params: idParams,
      handle: async ({ params }) => {
        const connector = (await get(params.id)) as { name: string };
        const { rows } = await pool.query<{ templates: string[]; layers: string[] }>(
          `SELECT array(SELECT name FROM image_templates WHERE connector_id = $1 ORDER BY name) AS templates,
                  array(SELECT name FROM layers WHERE connector_id = $1 ORDER BY name) AS layers`,
          [params.id],
        );
        refuseIfInUse('Connector configuration', connector.name, {
          'image template': rows[0].templates,
          layer: rows[0].layers,
        });
        await pool.query('DELETE FROM connectors WHERE id = $1', [params.id]);
      },
    }),
    route({
      method: 'post',
      path: '/:id/test',
      operationId: 'testConnector',
      response: taskSchema,
      summary: "Run the connector's own check as a task; its result names each wrong field",
      access: 'connectors.write',
      params: idParams,
      status: 202,
      handle: async ({ params, caller, res }) => {
        const connector = (await get(params.id)) as { type: string; name: string };
        refuseConnectorNotInBuild(connector, 'params.id');
        return withTaskLocation(
          res,
          await tasks.start('testConnector', {
            user: caller.name,
            objectId: params.id,
            label: connector.name,
            args: [params.id],
          }),
        );
      },
    }),
  ]);
}
