import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { connectorExists } from '../../db/connectors';
import {
  deleteLayer,
  insertLayer,
  insertLayerVersion,
  layerList,
  layerVersionList,
  markLayerVersionDeleted,
  osLayerExists,
  updateLayer,
  updateLayerVersion,
  versionUsers,
} from '../../db/layers';
import { listPage, pageQuery } from '../../db/list-page';
import type { ApiDeps } from '../deps';
import { refuseIfInUse } from '../in-use';
import { findOr404 } from '../lookup';
import { HttpProblem, invalidFields } from '../problem';
import { resource, route } from '../route';
import { nullableId, pageOf, recordTimes } from '../responses';
import { description, displayName, fileSafeName, idParams } from '../validation';
import { ELASTIC_FIT_VERDICTS, LAYER_TYPES, VERSION_STATES, type LayerType } from '../../domain/layers';
import { layerTypeAccess, requireLayerTypePermission } from './layer-access';

const createLayerBody = z
  .object({
    type: z.enum(LAYER_TYPES),
    name: fileSafeName,
    description,
    osLayerId: z.uuid().optional().describe('The OS layer an app or platform layer is bound to'),
    connectorId: z.uuid().optional().describe('Connector configuration the layer is packaged with'),
  })
  .refine((b) => (b.type === 'os') === (b.osLayerId === undefined), {
    message: 'required for app and platform layers, not allowed for an OS layer',
    path: ['osLayerId'],
  });
const editBody = z.object({ name: fileSafeName.optional(), description: z.string().max(2000).optional() });
const versionBody = z.object({ version: displayName, description });
const editVersionBody = z.object({
  version: displayName.optional(),
  description: z.string().max(2000).optional(),
});
const versionParams = idParams.extend({ versionId: z.uuid('not an id') });

const layer = z.object({
  id: z.uuid(),
  type: z.enum(LAYER_TYPES),
  name: z.string(),
  description: z.string(),
  osLayerId: nullableId,
  osLayerName: z.string().nullable(),
  connectorId: nullableId,
  versionCount: z.number().int(),
  ...recordTimes,
});
const layerVersion = z.object({
  id: z.uuid(),
  layerId: z.uuid(),
  version: z.string(),
  description: z.string(),
  state: z.enum(VERSION_STATES),
  creationSequence: z.number().int().describe('Creation order across all layers: drives priority'),
  sizeBytes: z.number().nullable(),
  sha256: z.string().nullable(),
  elasticFit: z
    .enum(ELASTIC_FIT_VERDICTS)
    .nullable()
    .describe(
      'Whether the version can be delivered as an elastic layer (captured versions); null: not judged',
    ),
  elasticFitReasons: z
    .array(z.object({ rule: z.string(), detail: z.string() }))
    .describe(
      'Why the elastic-fit verdict is what it is: one finding each (a boot-start driver, a service, …)',
    ),
  scripts: z
    .array(z.string())
    .describe("The layer's first-start scripts (paths under \\.lamina\\scripts), run by the image's runner"),
  osVersionId: nullableId.describe(
    'App and platform versions: the OS layer version they were made on (any version of that OS layer composes with them)',
  ),
  basedOnVersionId: nullableId.describe("The layer's earlier version this one was packaged on, if any"),
  action: z
    .object({
      connectorId: z.uuid(),
      vm: z.object({ id: z.string(), name: z.string() }),
      instructions: z.string(),
    })
    .nullable()
    .describe('While ActionRequired: the packaging machine and what the admin has to do on it'),
  taskId: z.string().nullable().describe('The task that created the version'),
  ...recordTimes,
});

/** Layers and their versions (ARCHITECTURE.md §3). Versions are made by tasks; here they are recorded and edited. */
export function layersResource({ pool }: ApiDeps) {
  const typeAccess = layerTypeAccess(pool);
  const getLayer = (id: string) =>
    findOr404(pool, layerList, id, 'Layer') as Promise<{ type: LayerType; name: string }>;
  const getVersion = async (layerId: string, versionId: string) => {
    const version = (await findOr404(pool, layerVersionList, versionId, 'Layer version')) as {
      layerId: string;
      version: string;
    };
    if (version.layerId !== layerId)
      throw new HttpProblem({
        title: 'Layer version not found',
        status: 404,
        detail: `Layer '${layerId}' has no version '${versionId}'.`,
      });
    return version;
  };

  return resource('Layers', '/api/layers', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listLayers',
      response: pageOf(layer),
      summary: 'List layers',
      access: 'read',
      query: pageQuery.extend({
        type: z.enum(LAYER_TYPES).optional(),
        name: z.string().max(128).optional(),
        osLayerId: z.uuid().optional(),
      }),
      handle: ({ query }) => listPage(pool, layerList, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: 'createLayer',
      response: layer,
      summary: 'Create a layer (its versions come from import, packaging or layer-as-code tasks)',
      access: 'layers.write',
      body: createLayerBody,
      status: 201,
      handle: async ({ body, caller, auditObject }) => {
        requireLayerTypePermission(caller, body.type);
        if (body.osLayerId) {
          if (!(await osLayerExists(pool, body.osLayerId)))
            throw invalidFields([{ field: 'body.osLayerId', message: 'no OS layer has this id' }]);
        }
        if (body.connectorId) {
          if (!(await connectorExists(pool, body.connectorId)))
            throw invalidFields([
              { field: 'body.connectorId', message: 'no connector configuration has this id' },
            ]);
        }
        const id = randomUUID();
        auditObject(id);
        await insertLayer(pool, { id, ...body });
        return getLayer(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getLayer',
      response: layer,
      summary: 'Describe a layer',
      access: 'read',
      params: idParams,
      handle: ({ params }) => getLayer(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: 'updateLayer',
      response: layer,
      summary: "Edit a layer's name or description",
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: idParams,
      body: editBody,
      handle: async ({ params, body }) => {
        await updateLayer(pool, params.id, body);
        return getLayer(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: 'deleteLayer',
      summary: 'Delete a layer that no template, elastic assignment or bound layer uses',
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: idParams,
      handle: async ({ params }) => {
        const layer = await getLayer(params.id);
        await deleteLayer(pool, params.id, (users) =>
          refuseIfInUse('Layer', layer.name, {
            'image template': users.templates,
            'elastic assignment': users.elasticAssignments,
            'layer bound to it': users.boundLayers,
          }),
        );
      },
    }),
    route({
      method: 'get',
      path: '/:id/versions',
      operationId: 'listLayerVersions',
      response: pageOf(layerVersion),
      summary: 'List the versions of a layer in creation order',
      access: 'read',
      params: idParams,
      query: pageQuery.extend({ state: z.enum(VERSION_STATES).optional() }),
      handle: async ({ params, query }) => {
        await getLayer(params.id);
        return listPage(pool, layerVersionList, { ...query, layerId: params.id });
      },
    }),
    route({
      method: 'post',
      path: '/:id/versions',
      operationId: 'createLayerVersion',
      response: layerVersion,
      summary: 'Record a new version (state Creating) for a task to fill',
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: idParams,
      body: versionBody,
      status: 201,
      handle: async ({ params, body, auditObject }) => {
        const id = randomUUID();
        auditObject(id);
        await insertLayerVersion(pool, { id, layerId: params.id, ...body });
        return getVersion(params.id, id);
      },
    }),
    route({
      method: 'get',
      path: '/:id/versions/:versionId',
      operationId: 'getLayerVersion',
      response: layerVersion,
      summary: 'Describe a layer version',
      access: 'read',
      params: versionParams,
      handle: ({ params }) => getVersion(params.id, params.versionId),
    }),
    route({
      method: 'patch',
      path: '/:id/versions/:versionId',
      operationId: 'updateLayerVersion',
      response: layerVersion,
      summary: "Edit a version's name or description",
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: versionParams,
      body: editVersionBody,
      handle: async ({ params, body }) => {
        await getVersion(params.id, params.versionId);
        await updateLayerVersion(pool, params.versionId, body);
        return getVersion(params.id, params.versionId);
      },
    }),
    route({
      method: 'delete',
      path: '/:id/versions/:versionId',
      operationId: 'deleteLayerVersion',
      summary: 'Mark a version Deleted unless a template or elastic assignment uses it',
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: versionParams,
      handle: async ({ params }) => {
        const version = await getVersion(params.id, params.versionId);
        const users = await versionUsers(pool, [params.versionId]);
        refuseIfInUse('Layer version', version.version, {
          'image template': users.templates,
          'elastic assignment': users.elasticAssignments,
        });
        // Published images keep their own record of the version; the row stays so they can still name it.
        await markLayerVersionDeleted(pool, params.versionId);
      },
    }),
  ]);
}
