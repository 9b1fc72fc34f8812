import type { Response } from 'express';
import { z } from 'zod';
import { findLayer } from '../../db/layers';
import { getVersion } from '../../db/layer-versions';
import type { BuildLayerFromPackageInput } from '../../workflows/build-layer-from-package';
import type { CreateLayerVersionInput } from '../../workflows/create-layer-version';
import type { ImportOsLayerInput } from '../../workflows/import-os-layer';
import type { ApiDeps } from '../deps';
import type { LayerType } from '../../domain/layers';
import { layerTypeAccess } from '../layers/layer-access';
import { HttpProblem, invalidFields, notFound } from '../problem';
import { resource, route } from '../route';
import { withTaskLocation } from '../tasks/task-location';
import { taskSchema } from '../tasks/task-schemas';
import { PathRefused, resolveImportFile } from '../../config/host-paths';
import { existingUpload } from '../uploads/uploads-store';
import { description, displayName, idParams } from '../validation';

const importBody = z.object({
  version: displayName,
  description,
  source: z.union([
    z.object({ connectorId: z.uuid(), vmId: z.string().min(1), disk: z.string().optional() }),
    z.object({
      diskPath: z
        .string()
        .regex(/^\//, 'must be an absolute path on the appliance')
        .describe('A disk file inside one of the import folders (LAMINA_IMPORT_DIRS)'),
    }),
  ]),
});
const scriptsUpload = z
  .uuid()
  .optional()
  .describe(
    'Upload id of a zip of first-start scripts (.ps1, .cmd, .bat): every image with the layer runs them once at its first start, layer by layer in priority order',
  );
const buildBody = z.object({
  version: displayName,
  description,
  osVersionId: z.uuid().optional(),
  content: z.uuid().describe('Upload id of the zip with the layer files'),
  reg: z.uuid().optional().describe('Upload id of a .reg file'),
  deletions: z.uuid().optional().describe('Upload id of a deletions list (one Windows path per line)'),
  scripts: scriptsUpload,
});
const packageBody = z.object({
  version: displayName,
  description,
  connectorId: z.uuid(),
  osVersionId: z.uuid().optional(),
  prerequisiteVersionIds: z.array(z.uuid()).max(50).optional(),
  bootDiskGb: z.number().int().min(1).max(2048).optional(),
  cpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(512).max(1048576).optional(),
  powerPollSeconds: z.number().int().min(1).max(86400).optional(),
  scripts: scriptsUpload,
});

/** The tasks that make layer versions (ARCHITECTURE.md §6): OS import, layer-as-code and the packaging machine. */
export function layerTasksResource({ pool, tasks, uploadsDir, importDirs }: ApiDeps) {
  const typeAccess = layerTypeAccess(pool);
  /** The layer, refused early when the task cannot make a version of its type. */
  const layerOf = async (id: string, types: readonly LayerType[], task: string) => {
    const layer = await findLayer(pool, id);
    if (!layer) throw notFound('Layer', id);
    if (!types.includes(layer.type))
      throw new HttpProblem({
        title: 'Wrong layer type',
        status: 422,
        detail: `${task} makes ${types.join(' or ')} layers, not ${layer.type} layers ('${layer.name}').`,
      });
    return layer;
  };
  const importFile = (diskPath: string) =>
    resolveImportFile(diskPath, importDirs).catch((err: unknown) => {
      if (!(err instanceof PathRefused)) throw err;
      throw new HttpProblem({
        title: 'Disk path not allowed',
        status: 422,
        detail: `body.source.diskPath: ${err.message}.`,
        errors: [{ field: 'body.source.diskPath', message: err.message }],
      });
    });
  /** Every layer task is about one layer and one new version of it: that names the task. */
  const startLayerTask = async (
    res: Response,
    type: 'importOsLayer' | 'buildLayerFromPackage' | 'createLayerVersion',
    user: string,
    layer: { id: string; name: string },
    version: string,
    input: unknown,
  ) =>
    withTaskLocation(
      res,
      await tasks.start(type, { user, objectId: layer.id, label: `${layer.name} ${version}`, args: [input] }),
    );
  return resource('Layer tasks', '/api/layers', [
    route({
      method: 'post',
      path: '/:id/versions/import',
      operationId: 'importOsLayerVersion',
      summary: "Start a task importing an OS layer version from a VM's disk or a disk file",
      access: 'layers.os.write',
      authorizeObject: typeAccess,
      params: idParams,
      body: importBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) => {
        const layer = await layerOf(params.id, ['os'], 'importing an OS');
        const input: ImportOsLayerInput = {
          layerId: params.id,
          ...body,
          // The workflow reads the real path that was checked, not one a symlink could redirect later.
          source:
            'diskPath' in body.source ? { diskPath: await importFile(body.source.diskPath) } : body.source,
        };
        return startLayerTask(
          res,
          'importOsLayer',
          caller.name,
          { id: params.id, ...layer },
          body.version,
          input,
        );
      },
    }),
    route({
      method: 'post',
      path: '/:id/versions/build',
      operationId: 'buildLayerVersion',
      summary: 'Start a task building an app or platform layer version from uploaded files (layer-as-code)',
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: idParams,
      body: buildBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) => {
        const layer = await layerOf(params.id, ['app', 'platform'], 'building from a package');
        const input: BuildLayerFromPackageInput = {
          layerId: params.id,
          version: body.version,
          description: body.description,
          osVersionId: body.osVersionId,
          content: await existingUpload(uploadsDir, body.content, 'body.content'),
          reg: body.reg && (await existingUpload(uploadsDir, body.reg, 'body.reg')),
          deletions: body.deletions && (await existingUpload(uploadsDir, body.deletions, 'body.deletions')),
          scripts: body.scripts && (await existingUpload(uploadsDir, body.scripts, 'body.scripts')),
        };
        return startLayerTask(
          res,
          'buildLayerFromPackage',
          caller.name,
          { id: params.id, ...layer },
          body.version,
          input,
        );
      },
    }),
    route({
      method: 'post',
      path: '/:id/versions/package',
      operationId: 'packageLayerVersion',
      summary:
        'Start a task creating a layer version on a packaging machine (waits for the admin to install, or update Windows for an OS layer, and shut down); the version is captured from what changed',
      access: 'layers.write',
      authorizeObject: typeAccess,
      params: idParams,
      body: packageBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) => {
        const layer = await layerOf(params.id, ['app', 'platform', 'os'], 'a packaging machine');
        if (layer.type === 'os') {
          const refused = [
            ...((body.prerequisiteVersionIds ?? []).length > 0
              ? [
                  {
                    field: 'body.prerequisiteVersionIds',
                    message: "an OS layer's new version is made on its current version alone",
                  },
                ]
              : []),
            ...(body.scripts
              ? [{ field: 'body.scripts', message: 'first-start scripts belong to app and platform layers' }]
              : []),
          ];
          if (refused.length > 0) throw invalidFields(refused);
        }
        for (const id of body.prerequisiteVersionIds ?? [])
          if (!(await getVersion(pool, id))) throw notFound('Layer version', id);
        const input: CreateLayerVersionInput = {
          layerId: params.id,
          ...body,
          scripts: body.scripts && (await existingUpload(uploadsDir, body.scripts, 'body.scripts')),
        };
        return startLayerTask(
          res,
          'createLayerVersion',
          caller.name,
          { id: params.id, ...layer },
          body.version,
          input,
        );
      },
    }),
  ]);
}
