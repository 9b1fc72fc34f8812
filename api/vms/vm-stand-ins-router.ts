import fs from 'node:fs/promises';
import { z } from 'zod';
import { createConnector } from '../../connectors';
import { GuestStateError, installInGuest } from '../../connectors/local/guest';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { getConnector } from '../../db/connectors';
import type { ApiDeps } from '../deps';
import { HttpProblem, notFound } from '../problem';
import { resource, route } from '../route';
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
const done = z.object({ vmId: z.string(), power: z.string() });

/**
 * Stand-ins, on the local connector, for what happens inside its VMs (the connector has no hypervisor
 * to run a guest): install software on a packaging machine, shut it down, report the first-start
 * scripts of an MCS master image. The same as `lamina vm install|shutdown|report`.
 */
export function vmStandInsResource({ pool, uploadsDir }: ApiDeps) {
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
    return { host, vm };
  };
  const refuseGuestState = (err: unknown): never => {
    if (err instanceof GuestStateError)
      throw new HttpProblem({ title: 'VM is not running', status: 409, detail: err.message });
    throw err;
  };
  return resource('Local VM stand-ins', '/api/connectors', [
    route({
      method: 'post',
      path: '/:id/vms/:vmId/install',
      operationId: 'installInLocalVm',
      summary: "Install uploaded files, .reg and deletions into a running packaging machine's package disk",
      access: 'layers.write',
      params: vmParams,
      body: installBody,
      response: done,
      handle: async ({ params, body }) => {
        const { host, vm } = await vmOf(params.id, params.vmId);
        const install = {
          from: await existingUpload(uploadsDir, body.content, 'body.content'),
          reg: body.reg && (await existingUpload(uploadsDir, body.reg, 'body.reg')),
          deletions: body.deletions && (await existingUpload(uploadsDir, body.deletions, 'body.deletions')),
        };
        await installInGuest(host, vm.id, install).catch(refuseGuestState);
        // Used: what they held is in the package disk now.
        for (const file of Object.values(install)) if (file) await fs.rm(file, { force: true });
        return { vmId: vm.id, power: vm.power };
      },
    }),
    route({
      method: 'post',
      path: '/:id/vms/:vmId/shutdown',
      operationId: 'shutDownLocalVm',
      summary: 'Shut a VM of the local connector down, as the admin does inside a finished packaging machine',
      access: 'layers.write',
      params: vmParams,
      response: done,
      handle: async ({ params }) => {
        const { host, vm } = await vmOf(params.id, params.vmId);
        await host.shutdown(vm.id);
        return { vmId: vm.id, power: 'off' };
      },
    }),
    route({
      method: 'post',
      path: '/:id/vms/:vmId/scripts-report',
      operationId: 'reportLocalVmScripts',
      summary:
        "Report, as an MCS master image's guest agent does, that the layers' first-start scripts have run",
      access: 'images.publish',
      params: vmParams,
      body: reportBody,
      response: done,
      handle: async ({ params, body }) => {
        const { host, vm } = await vmOf(params.id, params.vmId);
        await host.reportScripts(vm.id, { ...body, reportedAt: new Date().toISOString() });
        return { vmId: vm.id, power: vm.power };
      },
    }),
  ]);
}
