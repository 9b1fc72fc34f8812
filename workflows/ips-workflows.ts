import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { AzureBlobResult, PrepareOptions, ShareFileResult } from '../activities/ips-phases';
import { ipsQuick } from './ips-activity-proxies';
import { ipsPhases, type IpsPhase, type Provisioning } from './ips-matrix';
import {
  azurePublishPhase,
  copyPhase,
  exportPhase,
  prepareBlobPhase,
  preparePhase,
  prepareSourceBlobPhase,
  publishPhase,
  uploadPhase,
  type IpsBlobPrepareInput,
  type IpsBlobPrepareResult,
  type IpsExportInput,
  type IpsPrepareInput,
  type IpsPrepareResult,
  type IpsPublishInput,
  type IpsPublishResult,
  type IpsUploadInput,
  type IpsUploadResult,
} from './ips-phases';
import { withSaga } from './saga';

/** Export: a VM's disk on a local or vSphere connector → a VHDX on a share, with its SHA-256. */
export function ipsExport(input: IpsExportInput): Promise<ShareFileResult> {
  return withSaga((saga) => exportPhase(saga, input));
}

/**
 * Upload: a disk on a share → a fixed-VHD page blob in an Azure connector's container, a stored disk on
 * a vSphere datastore, or a copy on another file share.
 */
export function ipsUpload(input: IpsUploadInput): Promise<IpsUploadResult> {
  return withSaga<IpsUploadResult>((saga) =>
    'copyTo' in input ? copyPhase(saga, input) : uploadPhase(saga, input),
  );
}

/**
 * Prepare: a copy of a disk on a share made fit for the target platform and provisioning, offline; or
 * (`sourceBlob`, tasks after 'ips-prepare-source-blob') a page blob already in an Azure connector's
 * container, prepared in a Compositing Engine in Azure into another page blob.
 */
export function ipsPrepare(
  input: IpsPrepareInput | IpsBlobPrepareInput,
): Promise<IpsPrepareResult | IpsBlobPrepareResult> {
  return withSaga<IpsPrepareResult | IpsBlobPrepareResult>(async (saga) => {
    if ('sourceBlob' in input) {
      // Only tasks started with this code are given a blob: a history without the marker never gets here.
      if (!patched('ips-prepare-source-blob'))
        throw ApplicationFailure.nonRetryable(
          'this task started before prepare took a blob',
          'ValidationError',
        );
      return prepareSourceBlobPhase(saga, input);
    }
    return preparePhase(saga, input);
  });
}

/** Publish: a disk on a share → a PVS vDisk in the store; for MCS a master image VM, or on Azure the managed disk, image and VM. */
export function ipsPublish(input: IpsPublishInput): Promise<IpsPublishResult> {
  return withSaga((saga) => publishPhase(saga, input));
}

export interface IpsRunInput {
  sourceProvisioning: Provisioning;
  targetProvisioning: Provisioning;
  /** The share the run keeps its disks on (exported, prepared). */
  shareConnectorId: string;
  /** An MCS source: the VM whose disk is exported. */
  sourceVm?: { connectorId: string; vmId: string; disk?: string };
  /** A PVS source: the vDisk on the share. */
  sourceDisk?: string;
  /** Names what the run makes: `<name>.vhdx`, `<name>-prepared.vhdx`, the blob, the vDisk or master image. */
  name: string;
  /** MCS: the Azure connector (upload) or the hypervisor connector (master image VM). PVS: the store's share connector. */
  targetConnectorId: string;
  /** What the target connector is, for the upload's path: a page blob (azure) or a disk on the hypervisor. */
  targetType: 'azure' | 'vsphere' | 'local' | 'fileshare';
  prepare: PrepareOptions;
  timeoutMinutes?: number;
}

export interface IpsRunResult {
  /** The phases that ran, in order. */
  phases: IpsPhase[];
  exported?: ShareFileResult;
  /** On the share; or, prepared in Azure, the prepared page blob (uploaded is then the unprepared one). */
  prepared: IpsPrepareResult | IpsBlobPrepareResult;
  uploaded?: AzureBlobResult;
  published?: IpsPublishResult;
}

/**
 * ipsRun: the phases a source → target pair needs (ips-matrix.ts), in one saga. Prepare comes before the
 * upload (what is uploaded is the prepared disk) and runs in a Compositing Engine on the target when the
 * target connector offloads and its engines reach the share (the local connector's, vSphere's), else on
 * the appliance — except on Azure with Offload Compositing, where the order is the reference's: the
 * disk is uploaded, prepared in an engine in Azure from blob to blob, and published. On Azure the publish makes the managed disk, image and master image VM of the blob; on
 * a hypervisor target, the upload and publish are one step (the disk goes to the hypervisor as the
 * master image VM's).
 */
export function ipsRun(input: IpsRunInput): Promise<IpsRunResult> {
  const needed = ipsPhases(input.sourceProvisioning, input.targetProvisioning);
  return withSaga(async (saga) => {
    const phases: IpsPhase[] = [];
    let source: ShareFileResult | { shareConnectorId: string; fileName: string };
    let exported: ShareFileResult | undefined;
    if (needed.includes('export')) {
      phases.push('export');
      if (!input.sourceVm)
        throw ApplicationFailure.nonRetryable('an MCS source names the VM to export', 'ValidationError');
      exported = await exportPhase(saga, {
        ...input.sourceVm,
        sourceConnectorId: input.sourceVm.connectorId,
        shareConnectorId: input.shareConnectorId,
        name: input.name,
      });
      source = exported;
    } else {
      if (!input.sourceDisk)
        throw ApplicationFailure.nonRetryable('a PVS source names its vDisk on the share', 'ValidationError');
      source = { shareConnectorId: input.shareConnectorId, fileName: input.sourceDisk };
    }
    // Tasks started before this patch asked where to prepare inside preparePhase (local engines only).
    const engineAt = patched('ips-prepare-on-target-engines')
      ? await ipsQuick.ipsPrepareEngine(input.targetConnectorId)
      : 'unasked';
    if (engineAt === 'blob' && input.targetType === 'azure' && needed.includes('upload')) {
      // Azure with Offload Compositing (reference order): the unprepared disk is uploaded, prepared in
      // a Compositing Engine in Azure into the image's blob, and published from that.
      phases.push('upload');
      const uploaded = await uploadPhase(saga, {
        source: { shareConnectorId: source.shareConnectorId, fileName: source.fileName },
        azureConnectorId: input.targetConnectorId,
        blobName: `${input.name}-source.vhd`,
      });
      phases.push('prepare');
      const prepared = await prepareBlobPhase(saga, {
        azureConnectorId: input.targetConnectorId,
        sourceBlob: uploaded.blobName,
        outputBlob: `${input.name}.vhd`,
        options: input.prepare,
        timeoutMinutes: input.timeoutMinutes,
      });
      let published: IpsPublishResult | undefined;
      if (needed.includes('publish')) {
        phases.push('publish');
        const azure = await azurePublishPhase(saga, {
          azureConnectorId: input.targetConnectorId,
          blobName: prepared.blobName,
          name: input.name,
        });
        published = { azure };
      }
      return { phases, exported, prepared, uploaded, published };
    }
    phases.push('prepare');
    const prepared = await preparePhase(
      saga,
      {
        source: { shareConnectorId: source.shareConnectorId, fileName: source.fileName },
        output: `${input.name}-prepared.vhdx`,
        options: input.prepare,
        timeoutMinutes: input.timeoutMinutes,
        targetConnectorId: input.targetConnectorId,
      },
      engineAt,
    );
    const preparedFile = { shareConnectorId: prepared.shareConnectorId, fileName: prepared.fileName };
    let uploaded: AzureBlobResult | undefined;
    if (needed.includes('upload') && input.targetType === 'azure') {
      phases.push('upload');
      uploaded = await uploadPhase(saga, {
        source: preparedFile,
        azureConnectorId: input.targetConnectorId,
        blobName: `${input.name}.vhd`,
      });
    }
    let published: IpsPublishResult | undefined;
    // Runs that started before this patch ended an MCS run to Azure with the uploaded blob.
    if (uploaded && needed.includes('publish') && patched('ips-azure-managed-disk-image-vm')) {
      phases.push('publish');
      const azure = await azurePublishPhase(saga, {
        azureConnectorId: input.targetConnectorId,
        blobName: uploaded.blobName,
        name: input.name,
      });
      published = { azure };
    }
    if (needed.includes('publish') && input.targetType !== 'azure') {
      phases.push('publish');
      published = await publishPhase(saga, {
        source: preparedFile,
        provisioningType: input.targetProvisioning,
        targetConnectorId: input.targetConnectorId,
        name: input.name,
      });
    }
    return { phases, exported, prepared, uploaded, published };
  });
}
