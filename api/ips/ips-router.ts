import { z } from 'zod';
import type { PrepareOptions } from '../../activities/ips-phases';
import { offloadCompositingOf } from '../../db/compositing-engines';
import { getConnector, type ConnectorRecord } from '../../db/connectors';
import { nameProblem } from '../../domain/file-names';
import type { TaskType } from '../../domain/tasks';
import type { IpsBlobPrepareInput, IpsPublishInput, IpsUploadInput } from '../../workflows/ips-phases';
import type { IpsRunInput } from '../../workflows/ips-workflows';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { resource, route } from '../route';
import { taskSchema } from '../tasks/task-schemas';
import { withTaskLocation } from '../tasks/task-location';
import { existingUpload } from '../uploads/uploads-store';

const name = z
  .string()
  .min(1)
  .max(80)
  .superRefine((value, ctx) => {
    const problem = nameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const diskFile = name.describe("A disk's file name on the share (e.g. Win10.vhdx)");
const provisioning = z.enum(['MCS', 'PVS']);

/** The prepare options, named as the Citrix.AppLayering cmdlet names them. */
const prepareFields = {
  platform: z
    .enum(['azure', 'vsphere', 'local'])
    .optional()
    .describe("Where it will run; the target connector's type when it is a hypervisor or Azure"),
  DomainUnjoin: z.boolean().default(false),
  InstallUpl: z.boolean().default(false),
  Chkdsk: z.boolean().default(false),
  Defrag: z.boolean().default(false),
  EnableRdp: z.boolean().default(false),
  XdReconfigure: z.boolean().default(false),
  Timeout: z.number().int().min(1).max(1440).default(60).describe('Minutes prepare may take'),
  guestAgent: z.uuid().optional().describe("Upload id of a zip with the target's guest agent (Azure)"),
  domainJoinBlob: z.uuid().optional().describe('Upload id of an offline domain-join blob (djoin /provision)'),
  uplInstaller: z
    .uuid()
    .optional()
    .describe('Upload id of a zip with the User Personalization Layer installer'),
};

const exportBody = z.object({
  sourceConnectorId: z.uuid().describe('Local or vSphere connector holding the VM'),
  vmId: z.string().min(1).max(200),
  disk: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
  shareConnectorId: z.uuid().describe('Windows File Share connector the VHDX is written to'),
  name: name.describe('The exported disk is <name>.vhdx'),
});
const uploadBody = z.object({
  shareConnectorId: z.uuid(),
  fileName: diskFile,
  targetConnectorId: z
    .uuid()
    .describe('Azure (a page blob), vSphere (a disk on its datastore) or another Windows File Share'),
  blobName: name.optional().describe("Azure: the page blob's name; the file's name with .vhd when unset"),
});
const prepareBody = z
  .object({
    shareConnectorId: z.uuid().optional().describe('The share the disk is on (with fileName)'),
    fileName: diskFile.optional(),
    sourceBlob: name
      .optional()
      .describe(
        "Instead of a disk on a share: a page blob holding a fixed VHD in the Azure target connector's " +
          'container (an upload), prepared in a Compositing Engine in Azure into another page blob; ' +
          'needs Offload Compositing on the connector. The source blob is left as it is',
      ),
    targetConnectorId: z
      .uuid()
      .describe('Where the image goes: Azure, vSphere or local (MCS), a PVS store share'),
    output: name
      .optional()
      .describe("A disk on a share: the prepared copy's file name there; <file>-prepared.vhdx when unset"),
    outputBlob: name
      .optional()
      .describe(
        "sourceBlob: the prepared page blob's name; <name>.vhd for <name>-source.vhd, else " +
          '<name>-prepared.vhd for <name>.vhd. An existing blob is not overwritten',
      ),
    provisioningType: provisioning.describe('What the prepared image is for: MCS or PVS'),
    ...prepareFields,
  })
  .superRefine((body, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const onShare = body.shareConnectorId !== undefined || body.fileName !== undefined;
    if (body.sourceBlob !== undefined) {
      if (onShare)
        issue(
          'sourceBlob',
          'give the disk on a share (shareConnectorId and fileName) or sourceBlob, not both',
        );
      if (body.output !== undefined)
        issue('output', 'output names a file on a share; a blob is prepared into outputBlob');
      if (body.outputBlob !== undefined && body.outputBlob === body.sourceBlob)
        issue('outputBlob', 'the prepared blob must be another than its source, which is left as it is');
      if (body.platform !== undefined && body.platform !== 'azure')
        issue('platform', 'a blob in Azure is prepared for Azure');
      return;
    }
    if (!onShare)
      issue(
        'fileName',
        'give the disk to prepare: shareConnectorId and fileName, or sourceBlob (a page blob in the Azure connector)',
      );
    else if (body.shareConnectorId === undefined) issue('shareConnectorId', 'the share fileName is on');
    else if (body.fileName === undefined) issue('fileName', 'the disk on the share to prepare');
    if (body.outputBlob !== undefined)
      issue(
        'outputBlob',
        'outputBlob names a prepared blob (with sourceBlob); a disk on a share is prepared into output',
      );
  });
const publishBody = z.object({
  shareConnectorId: z.uuid(),
  fileName: diskFile,
  targetConnectorId: z
    .uuid()
    .describe('PVS: the file share connector on the store; MCS: vSphere, local or Azure'),
  provisioningType: provisioning,
  name,
  blobName: name
    .optional()
    .describe("MCS on Azure: the uploaded page blob; the file's name with .vhd when unset"),
});
const runBody = z.object({
  sourceProvisioning: provisioning,
  targetProvisioning: provisioning,
  shareConnectorId: z.uuid(),
  sourceConnectorId: z.uuid().optional().describe('MCS source: the connector holding the VM'),
  vmId: z.string().min(1).max(200).optional(),
  sourceDisk: diskFile.optional().describe('PVS source: the vDisk on the share'),
  targetConnectorId: z.uuid(),
  name,
  ...prepareFields,
});

type Kind = 'share' | 'hypervisor' | 'upload-target' | 'prepare-target' | 'mcs-target';
const ACCEPTED: Record<Kind, readonly string[]> = {
  share: ['fileshare'],
  hypervisor: ['local', 'vsphere'],
  'upload-target': ['azure', 'vsphere', 'fileshare'],
  'prepare-target': ['azure', 'vsphere', 'local', 'fileshare'],
  'mcs-target': ['azure', 'vsphere', 'local'],
};

/**
 * Image Portability, shaped like the Citrix.AppLayering cmdlets: each route starts one phase task (or
 * ipsRun, the phases a source → target pair needs) after checking its connectors are of types that
 * take it. Image Porter or Administrator only (`images.port`).
 */
export function ipsResource({ pool, tasks, uploadsDir }: ApiDeps) {
  const connector = async (id: string, field: string, kind: Kind): Promise<ConnectorRecord> => {
    const record = await getConnector(pool, id);
    const refuse = (message: string) =>
      new HttpProblem({
        title: 'Connector cannot take this task',
        status: 422,
        detail: `${field}: ${message}`,
        errors: [{ field, message }],
      });
    if (!record) throw refuse(`no connector configuration '${id}'`);
    if (record.type === 'pvs')
      throw refuse(
        `connector '${record.name}' is Citrix Provisioning, which does not take Image Portability tasks; ` +
          "publish for PVS through a Windows File Share connector on the store's path",
      );
    if (!ACCEPTED[kind].includes(record.type))
      throw refuse(
        `connector '${record.name}' is of type '${record.type}'; this needs ${ACCEPTED[kind].join(' or ')}`,
      );
    return record;
  };
  /**
   * The target of a prepare of a blob: an Azure connector (the blob is in its container) that prepares
   * in a Compositing Engine in Azure. The appliance does not prepare a blob in Azure itself (it would
   * download the whole disk and upload it again): with Offload Compositing off, or no engine image, it
   * refuses. Whether the blob is there is asked of Azure by the task's first step (the API does not reach
   * the platform), before an engine is made.
   */
  const blobPrepareTarget = async (id: string): Promise<ConnectorRecord> => {
    const target = await connector(id, 'body.targetConnectorId', 'prepare-target');
    const refuse = (message: string) =>
      new HttpProblem({
        title: 'Connector cannot take this task',
        status: 422,
        detail: `body.sourceBlob: ${message}`,
        errors: [{ field: 'body.sourceBlob', message }],
      });
    if (target.type !== 'azure')
      throw refuse(
        `a blob is prepared in the container of an Azure target connector; connector '${target.name}' is ` +
          `of type '${target.type}': prepare a disk on a share for it (shareConnectorId and fileName)`,
      );
    if (!(await offloadCompositingOf(pool, id)))
      throw refuse(
        `connector '${target.name}' has Offload Compositing off: a blob in Azure is prepared in a ` +
          'Compositing Engine in Azure; turn Offload Compositing on (with ceImageId), or prepare the disk ' +
          'on its share before uploading it',
      );
    if (!target.settings.ceImageId)
      throw refuse(
        `connector '${target.name}' names no Compositing Engine image (ceImageId), which the engine that ` +
          'prepares a blob in Azure is made from',
      );
    return target;
  };
  /** Starts the task; its object is the connector the task works on (the target, or the export's source). */
  const start = async (
    res: Parameters<typeof withTaskLocation>[0],
    type: TaskType,
    task: { user: string; label: string; objectId: string },
    input: unknown,
  ) => withTaskLocation(res, await tasks.start(type, { ...task, args: [input] }));

  const prepareOptions = async (
    body: z.output<typeof prepareBody> | z.output<typeof runBody>,
    target: ConnectorRecord,
    provisioningType: 'MCS' | 'PVS',
  ): Promise<PrepareOptions> => {
    const platform = body.platform ?? (target.type === 'fileshare' ? undefined : target.type);
    if (platform !== 'azure' && platform !== 'vsphere' && platform !== 'local') {
      const message =
        'a PVS store does not say where its targets run: give the platform (azure, vsphere, local)';
      throw new HttpProblem({
        title: 'Platform needed',
        status: 400,
        detail: message,
        errors: [{ field: 'body.platform', message }],
      });
    }
    if (body.InstallUpl && !body.uplInstaller) {
      const message = 'InstallUpl needs the User Personalization Layer installer (an upload id)';
      throw new HttpProblem({
        title: 'Installer needed',
        status: 400,
        detail: message,
        errors: [{ field: 'body.uplInstaller', message }],
      });
    }
    return {
      provisioningType,
      platform,
      DomainUnjoin: body.DomainUnjoin,
      InstallUpl: body.InstallUpl,
      Chkdsk: body.Chkdsk,
      Defrag: body.Defrag,
      EnableRdp: body.EnableRdp,
      XdReconfigure: body.XdReconfigure,
      ...(body.guestAgent
        ? { guestAgent: await existingUpload(uploadsDir, body.guestAgent, 'body.guestAgent') }
        : {}),
      ...(body.domainJoinBlob
        ? { domainJoinBlob: await existingUpload(uploadsDir, body.domainJoinBlob, 'body.domainJoinBlob') }
        : {}),
      ...(body.uplInstaller
        ? { uplInstaller: await existingUpload(uploadsDir, body.uplInstaller, 'body.uplInstaller') }
        : {}),
    };
  };

  return resource('Image Portability', '/api/ips', [
    route({
      method: 'post',
      path: '/export',
      operationId: 'startIpsExport',
      summary: "Export a VM's disk to a share as a VHDX, with its SHA-256 (Export-ALImage)",
      access: 'images.port',
      body: exportBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        await connector(body.sourceConnectorId, 'body.sourceConnectorId', 'hypervisor');
        await connector(body.shareConnectorId, 'body.shareConnectorId', 'share');
        return start(
          res,
          'ipsExport',
          { user: caller.name, label: body.name, objectId: body.sourceConnectorId },
          body,
        );
      },
    }),
    route({
      method: 'post',
      path: '/upload',
      operationId: 'startIpsUpload',
      summary:
        'Upload a disk on a share: to Azure as a fixed-VHD page blob (resumable), to a vSphere datastore, or to another share',
      access: 'images.port',
      body: uploadBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        await connector(body.shareConnectorId, 'body.shareConnectorId', 'share');
        const target = await connector(body.targetConnectorId, 'body.targetConnectorId', 'upload-target');
        if (body.targetConnectorId === body.shareConnectorId) {
          const message = 'the disk is on that share already: name another share, a datastore or Azure';
          throw new HttpProblem({
            title: 'Connector cannot take this task',
            status: 422,
            detail: `body.targetConnectorId: ${message}`,
            errors: [{ field: 'body.targetConnectorId', message }],
          });
        }
        const source = { shareConnectorId: body.shareConnectorId, fileName: body.fileName };
        const input: IpsUploadInput =
          target.type === 'azure'
            ? { source, azureConnectorId: body.targetConnectorId, blobName: body.blobName }
            : {
                source,
                copyTo: {
                  connectorId: body.targetConnectorId,
                  kind: target.type === 'fileshare' ? 'share' : 'hypervisor',
                },
              };
        return start(
          res,
          'ipsUpload',
          { user: caller.name, label: body.fileName, objectId: body.targetConnectorId },
          input,
        );
      },
    }),
    route({
      method: 'post',
      path: '/prepare',
      operationId: 'startIpsPrepare',
      summary:
        'Prepare a copy of a disk on a share, or of a page blob in an Azure connector (sourceBlob, in a Compositing Engine in Azure), for its target platform and provisioning (Prepare-ALImage)',
      access: 'images.port',
      body: prepareBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        if (body.sourceBlob !== undefined) {
          const target = await blobPrepareTarget(body.targetConnectorId);
          const input: IpsBlobPrepareInput = {
            azureConnectorId: body.targetConnectorId,
            sourceBlob: body.sourceBlob,
            ...(body.outputBlob ? { outputBlob: body.outputBlob } : {}),
            options: await prepareOptions(body, target, body.provisioningType),
            timeoutMinutes: body.Timeout,
          };
          return start(
            res,
            'ipsPrepare',
            { user: caller.name, label: body.sourceBlob, objectId: body.targetConnectorId },
            input,
          );
        }
        // The schema admits a body without sourceBlob only with both.
        const shareConnectorId = body.shareConnectorId!;
        const fileName = body.fileName!;
        await connector(shareConnectorId, 'body.shareConnectorId', 'share');
        const target = await connector(body.targetConnectorId, 'body.targetConnectorId', 'prepare-target');
        const input = {
          source: { shareConnectorId, fileName },
          output: body.output,
          options: await prepareOptions(body, target, body.provisioningType),
          timeoutMinutes: body.Timeout,
          targetConnectorId: body.targetConnectorId,
        };
        return start(
          res,
          'ipsPrepare',
          { user: caller.name, label: fileName, objectId: body.targetConnectorId },
          input,
        );
      },
    }),
    route({
      method: 'post',
      path: '/publish',
      operationId: 'startIpsPublish',
      summary:
        'Publish a prepared disk: a PVS vDisk in the store, or for MCS a master image VM (on Azure with its managed disk and image) (Publish-ALImage)',
      access: 'images.port',
      body: publishBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        await connector(body.shareConnectorId, 'body.shareConnectorId', 'share');
        const target = await connector(
          body.targetConnectorId,
          'body.targetConnectorId',
          body.provisioningType === 'PVS' ? 'share' : 'mcs-target',
        );
        const input: IpsPublishInput = {
          source: { shareConnectorId: body.shareConnectorId, fileName: body.fileName },
          provisioningType: body.provisioningType,
          targetConnectorId: body.targetConnectorId,
          name: body.name,
          ...(target.type === 'azure'
            ? { azureBlob: body.blobName ?? body.fileName.replace(/(\.vhdx?)?$/i, '.vhd') }
            : {}),
        };
        return start(
          res,
          'ipsPublish',
          { user: caller.name, label: body.name, objectId: body.targetConnectorId },
          input,
        );
      },
    }),
    route({
      method: 'post',
      path: '/run',
      operationId: 'startIpsRun',
      summary: 'Run the phases a source → target pair needs (MCS/PVS matrix), in one task',
      access: 'images.port',
      body: runBody,
      status: 202,
      response: taskSchema,
      handle: async ({ body, caller, res }) => {
        await connector(body.shareConnectorId, 'body.shareConnectorId', 'share');
        const target = await connector(
          body.targetConnectorId,
          'body.targetConnectorId',
          body.targetProvisioning === 'PVS' ? 'share' : 'mcs-target',
        );
        if (body.sourceProvisioning === 'MCS') {
          if (!body.sourceConnectorId || !body.vmId) {
            const message = 'an MCS source is a VM: give sourceConnectorId and vmId';
            throw new HttpProblem({
              title: 'Source needed',
              status: 400,
              detail: message,
              errors: [{ field: 'body.vmId', message }],
            });
          }
          await connector(body.sourceConnectorId, 'body.sourceConnectorId', 'hypervisor');
        } else if (!body.sourceDisk) {
          const message = 'a PVS source is a vDisk on the share: give sourceDisk';
          throw new HttpProblem({
            title: 'Source needed',
            status: 400,
            detail: message,
            errors: [{ field: 'body.sourceDisk', message }],
          });
        }
        const input: IpsRunInput = {
          sourceProvisioning: body.sourceProvisioning,
          targetProvisioning: body.targetProvisioning,
          shareConnectorId: body.shareConnectorId,
          ...(body.sourceConnectorId && body.vmId
            ? { sourceVm: { connectorId: body.sourceConnectorId, vmId: body.vmId } }
            : {}),
          ...(body.sourceDisk ? { sourceDisk: body.sourceDisk } : {}),
          name: body.name,
          targetConnectorId: body.targetConnectorId,
          targetType: target.type as IpsRunInput['targetType'],
          prepare: await prepareOptions(body, target, body.targetProvisioning),
          timeoutMinutes: body.Timeout,
        };
        const label = `${body.sourceProvisioning} to ${body.targetProvisioning}: ${body.name}`;
        return start(res, 'ipsRun', { user: caller.name, label, objectId: body.targetConnectorId }, input);
      },
    }),
  ]);
}
