import type { Response } from 'express';
import { z } from 'zod';
import type { LocalVmStandIn, LocalVmStandInInput } from '../../activities/local-vm-stand-ins';
import { createConnector } from '../../connectors';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { getConnector } from '../../db/connectors';
import type { ApiDeps } from '../deps';
import { HttpProblem, notFound } from '../problem';
import { resource, route } from '../route';
import { taskSchema } from '../tasks/task-schemas';
import { withTaskLocation } from '../tasks/task-location';
import { existingUpload } from '../uploads/uploads-store';
import { idParams } from '../validation';

const vmParams = idParams.extend({
  vmId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/, 'not a VM id'),
});
const installBody = z.object({
  content: z.uuid().describe('Upload id of a zip with the files, at their Windows paths'),
  reg: z.uuid().optional().describe('Upload id of a .reg file'),
  deletions: z.uuid().optional().describe('Upload id of a deletions list'),
});
const reportBody = z.object({
  ok: z.boolean().default(true),
  detail: z.string().max(4096).default('layer scripts completed'),
});

/**
 * Stand-ins, on the local connector, for what happens inside its VMs (the connector has no hypervisor
 * to run a guest): install software on a packaging machine, shut it down, report the first-start
 * scripts of an MCS master image. Each is checked here (a local connector, the VM, its power, the
 * uploads) and runs as a task (localVmStandIn), like `lamina vm install|shutdown|report` on the CLI.
 */
export function vmStandInsResource({ pool, uploadsDir, tasks }: ApiDeps) {
  const vmOf = async (connectorId: string, vmId: string) => {
    const record = await getConnector(pool, connectorId);
    if (!record) throw notFound('Connector configuration', connectorId);
    const host = record.type === 'local' ? createConnector(record).vms : undefined;
    if (!(host instanceof LocalVmHost)) {
      throw new HttpProblem({
        title: 'Not a local connector',
        status: 409,
        detail: `'${record.name}' is a ${record.type} connector: act inside its VMs on the hypervisor itself.`,
      });
    }
    const vm = await host.getVm(vmId);
    if (!vm) throw notFound('VM', vmId);
    return vm;
  };
  const start = async (
    res: Response,
    user: string,
    connectorId: string,
    vm: { id: string; name: string },
    standIn: LocalVmStandIn,
  ) => {
    const input: LocalVmStandInInput = { connectorId, vmId: vm.id, ...standIn };
    return withTaskLocation(
      res,
      await tasks.start('localVmStandIn', {
        user,
        objectId: vm.id,
        label: `${standIn.action} ${vm.name}`,
        args: [input],
      }),
    );
  };
  return resource('Local VM stand-ins', '/api/connectors', [
    route({
      method: 'post',
      path: '/:id/vms/:vmId/install',
      operationId: 'installInLocalVm',
      summary:
        "Start a task installing uploaded files, .reg and deletions into a running packaging machine's package disk",
      access: 'layers.write',
      params: vmParams,
      body: installBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) => {
        const vm = await vmOf(params.id, params.vmId);
        if (vm.power !== 'running') {
          throw new HttpProblem({
            title: 'VM is not running',
            status: 409,
            detail: `VM '${vm.name}' is ${vm.power}; software is installed on a running machine`,
          });
        }
        return start(res, caller.name, params.id, vm, {
          action: 'install',
          from: await existingUpload(uploadsDir, body.content, 'body.content'),
          reg: body.reg && (await existingUpload(uploadsDir, body.reg, 'body.reg')),
          deletions: body.deletions && (await existingUpload(uploadsDir, body.deletions, 'body.deletions')),
        });
      },
    }),
    route({
      method: 'post',
      path: '/:id/vms/:vmId/shutdown',
      operationId: 'shutDownLocalVm',
      summary:
        'Start a task shutting a VM of the local connector down, as the admin does inside a finished packaging machine',
      access: 'layers.write',
      params: vmParams,
      status: 202,
      response: taskSchema,
      handle: async ({ params, caller, res }) =>
        start(res, caller.name, params.id, await vmOf(params.id, params.vmId), { action: 'shutdown' }),
    }),
    route({
      method: 'post',
      path: '/:id/vms/:vmId/scripts-report',
      operationId: 'reportLocalVmScripts',
      summary:
        "Start a task reporting, as an MCS master image's guest agent does, that the layers' first-start scripts have run",
      access: 'images.publish',
      params: vmParams,
      body: reportBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) =>
        start(res, caller.name, params.id, await vmOf(params.id, params.vmId), {
          action: 'scripts-report',
          ...body,
        }),
    }),
  ]);
}
