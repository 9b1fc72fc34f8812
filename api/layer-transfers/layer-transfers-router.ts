import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import type { LayerTransferInput } from '../../workflows/layer-transfer';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { checkShareMount } from '../system-settings/mount-point';
import { resource, route } from '../route';
import { taskSchema } from '../tasks/task-schemas';
import { withTaskLocation } from '../tasks/task-location';

const transferFolder = z.object({
  mountPoint: z
    .string()
    .regex(/^\//, 'must be an absolute path')
    .describe('Where the appliance has the transfer share mounted (the file-share connector’s rules)'),
  folder: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$/, 'a plain folder name')
    .describe('The export’s folder on the share'),
});

const exportBody = transferFolder.extend({
  versionIds: z.array(z.uuid()).min(1).max(1000).describe('Layer versions to export; OS layers go first'),
});

/**
 * Layer export and import between appliances (reference architecture "Dual Appliance Model"): one
 * transfer at a time, through a folder on a share both appliances mount.
 */
export function layerTransfersResource({ tasks, ownDirs }: ApiDeps) {
  const start = async (input: LayerTransferInput, user: string, what: string) => {
    const where = input.direction === 'export' ? input.target : input.source;
    await checkShareMount(where.mountPoint, ownDirs);
    try {
      return await tasks.start('layerTransfer', {
        oneAtATime: true,
        user,
        label: `${what} through ${where.mountPoint}/${where.folder}`,
        args: [input],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      throw new HttpProblem({
        title: 'A layer transfer is running',
        status: 409,
        detail: `one layer transfer runs at a time; task '${err.workflowId}' is running`,
      });
    }
  };

  return resource('Layer transfers', '/api/layer-transfers', [
    route({
      method: 'post',
      path: '/export',
      operationId: 'exportLayers',
      summary: 'Export layer versions (disks and a manifest with their hashes) to a folder on a share',
      access: 'layers.export',
      body: exportBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        const { versionIds, ...target } = body;
        return withTaskLocation(
          res,
          await start({ direction: 'export', target, versionIds }, caller.name, 'export'),
        );
      },
    }),
    route({
      method: 'post',
      path: '/import',
      operationId: 'importLayers',
      summary:
        'Import an export: every hash is checked first; versions this appliance has are skipped, OS bindings and priority order kept',
      access: 'layers.import',
      body: transferFolder,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) =>
        withTaskLocation(res, await start({ direction: 'import', source: body }, caller.name, 'import')),
    }),
  ]);
}
