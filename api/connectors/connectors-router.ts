import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CONNECTOR_TYPES, CONNECTOR_TYPE_NAMES, type ConnectorType } from '../../connectors/registry';
import { CONNECTOR_CAPABILITIES } from '../../connectors/connector-type';
import {
  connectorList,
  connectorUsers,
  deleteConnector,
  editConnector,
  insertConnector,
} from '../../db/connectors';
import { listPage, pageQuery } from '../../db/list-page';
import type { SealedSecret } from '../../config/secret-box';
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
    .array(z.enum(CONNECTOR_CAPABILITIES))
    .describe(
      'vms: packaging machines and MCS master images run there; images: image files are copied there; ' +
        'upload: Image Portability uploads disks to its cloud storage',
    ),
  implemented: z.boolean(),
});

/** Secrets leave only as "set or not"; the cache hit rate is derived from its counters. */
const connectorsView = connectorList<ConnectorType>(({ secrets, cacheHits, cacheLookups, ...row }) => {
  const definition = CONNECTOR_TYPES[row.type];
  return {
    ...row,
    secretsSet: Object.fromEntries((definition?.secretFields ?? []).map((f) => [f, f in secrets])),
    packagingCacheHitRate: Number(cacheLookups) > 0 ? Number(cacheHits) / Number(cacheLookups) : null,
    implemented: definition?.create !== undefined,
  };
});

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
        // The union of per-type schemas is typed loosely (connector-schemas.ts); this is what each of them gives.
        const created = body as {
          type: ConnectorType;
          name: string;
          settings: Record<string, unknown>;
          secrets: Record<string, string>;
          offloadCompositing: boolean;
          packagingCacheGb?: number;
          postPublishScript?: string;
        };
        const type = created.type;
        await checkOnHost(type, created.settings);
        const id = randomUUID();
        auditObject(id);
        await insertConnector(pool, {
          ...created,
          id,
          secrets: seal(created.secrets, {}),
          packagingCacheGb: created.packagingCacheGb ?? CONNECTOR_TYPES[type].defaultPackagingCacheGb ?? 0,
        });
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
        const found = await editConnector<ConnectorType>(pool, params.id, async (current) => {
          const typed = parseRequestPart(typedPatchOf(CONNECTOR_TYPES[current.type]), body, 'body');
          await checkOnHost(current.type, typed.settings);
          return {
            name: body.name,
            settings: typed.settings,
            secrets: seal((typed.secrets ?? {}) as Record<string, string | null>, current.secrets),
            offloadCompositing: body.offloadCompositing,
            packagingCacheGb: body.packagingCacheGb,
            postPublishScript: body.postPublishScript,
          };
        });
        if (!found) throw notFound('Connector configuration', params.id);
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
        const users = await connectorUsers(pool, params.id);
        refuseIfInUse('Connector configuration', connector.name, {
          'image template': users.templates,
          layer: users.layers,
        });
        await deleteConnector(pool, params.id);
      },
    }),
    route({
      method: 'post',
      path: '/:id/test',
      operationId: 'testConnector',
      response: taskSchema,
      summary:
        "Run the connector's own check as a task; its result names each wrong field (a type this build does not implement: 422)",
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
