import { patched, uuid4 } from '@temporalio/workflow';
import type {
  AzureBlobResult,
  AzureResourceRef,
  PrepareEngineAt,
  PrepareOptions,
  PrepareReport,
  PvsVdiskResult,
  ShareFile,
  ShareFileResult,
} from '../activities/ips-phases';
import { ipsPreparing, ipsQuick, ipsTransfers } from './ips-activity-proxies';
import { prepareBlobOnEngine, prepareOnEngine } from './ips-engine';
import type { Saga } from './saga';

/**
 * The Image Portability phases (ARCHITECTURE.md §6), each registering the compensation of what it
 * creates before creating it. The phase workflows (ips-workflows.ts) run one with a saga of its own;
 * ipsRun chains them in one saga, so a failure or stop anywhere removes everything the run made.
 */

export interface IpsExportInput {
  sourceConnectorId: string;
  vmId: string;
  /** The VM's disk; `boot` when unset. */
  disk?: string;
  shareConnectorId: string;
  /** The exported disk is `<name>.vhdx` on the share. */
  name: string;
}

export async function exportPhase(saga: Saga, input: IpsExportInput): Promise<ShareFileResult> {
  const target: ShareFile = { shareConnectorId: input.shareConnectorId, fileName: `${input.name}.vhdx` };
  const scratchId = uuid4();
  const scratch = saga.register('export scratch', () => ipsQuick.removeScratch(scratchId));
  saga.register('exported disk', () => ipsQuick.ipsRemoveShareFile(target));
  const exported = await ipsTransfers.ipsExportDisk({
    sourceConnectorId: input.sourceConnectorId,
    vmId: input.vmId,
    disk: input.disk ?? 'boot',
    scratchId,
    target,
  });
  await saga.settle(scratch);
  return exported;
}

export interface IpsPrepareInput {
  source: ShareFile;
  /** The prepared copy's file name on the same share; `<source>-prepared.vhdx` when unset. */
  output?: string;
  options: PrepareOptions;
  /** The cmdlet's Timeout, in minutes (default 60). */
  timeoutMinutes?: number;
  /**
   * The connector the image is prepared for: when its Offload Compositing is on and its engines reach
   * the share, prepare runs in a Compositing Engine there instead of on the appliance.
   */
  targetConnectorId?: string;
}

export type IpsPrepareResult = ShareFileResult &
  PrepareReport & {
    /** The Compositing Engine that prepared it; unset when the appliance did. */
    engineId?: string;
  };

/**
 * Whether the target's engine prepares the disk where it is on the share: on the local connector and,
 * for tasks started after 'ips-prepare-on-target-engines', on vSphere too (its engine VM mounts the
 * share). An Azure engine cannot reach the share: a disk there is prepared on the appliance, and ipsRun
 * prepares the uploaded blob in Azure instead (prepareBlobPhase). `engineAt` is the answer ipsRun asked
 * for already.
 */
async function engineSharePrepare(
  targetConnectorId: string,
  engineAt: PrepareEngineAt | undefined | 'unasked',
): Promise<boolean> {
  if (!patched('ips-prepare-on-target-engines')) return ipsQuick.ipsPrepareOffloaded(targetConnectorId);
  const at = engineAt === 'unasked' ? await ipsQuick.ipsPrepareEngine(targetConnectorId) : engineAt;
  return at === 'share';
}

export async function preparePhase(
  saga: Saga,
  input: IpsPrepareInput,
  engineAt: PrepareEngineAt | undefined | 'unasked' = 'unasked',
): Promise<IpsPrepareResult> {
  const output = input.output ?? input.source.fileName.replace(/(\.vhdx?)?$/i, '-prepared.vhdx');
  const timeoutMinutes = input.timeoutMinutes ?? 60;
  saga.register('prepared disk', () =>
    ipsQuick.ipsRemoveShareFile({ shareConnectorId: input.source.shareConnectorId, fileName: output }),
  );
  // Tasks started before this patch prepared on the appliance whatever the target.
  if (
    input.targetConnectorId !== undefined &&
    patched('ips-prepare-on-engine') &&
    (await engineSharePrepare(input.targetConnectorId, engineAt))
  ) {
    return prepareOnEngine(saga, {
      targetConnectorId: input.targetConnectorId,
      source: input.source,
      output,
      options: input.options,
      timeoutMinutes,
    });
  }
  return ipsPreparing(timeoutMinutes).ipsPrepareDisk({
    source: input.source,
    output,
    options: input.options,
  });
}

export type IpsBlobPrepareResult = AzureBlobResult &
  PrepareReport & {
    /** The Compositing Engine in Azure that prepared it. */
    engineId: string;
    /** The uploaded page blob it was prepared from (left as it was). */
    sourceBlob: string;
  };

/**
 * Prepare in Azure (tasks after 'ips-prepare-on-target-engines', Azure target with Offload
 * Compositing): the uploaded page blob is prepared in a Compositing Engine VM in Azure into page blob
 * `outputBlob`, removed with the engine if the task does not complete.
 */
export async function prepareBlobPhase(
  saga: Saga,
  input: {
    azureConnectorId: string;
    sourceBlob: string;
    outputBlob: string;
    options: PrepareOptions;
    timeoutMinutes?: number;
  },
): Promise<IpsBlobPrepareResult> {
  saga.register('prepared blob', () => ipsQuick.ipsRemoveBlob(input.azureConnectorId, input.outputBlob));
  return prepareBlobOnEngine(saga, { ...input, timeoutMinutes: input.timeoutMinutes ?? 60 });
}

/** Prepare of a page blob already in the Azure connector's container (POST /api/ips/prepare, `sourceBlob`). */
export interface IpsBlobPrepareInput {
  azureConnectorId: string;
  /** A page blob holding a fixed VHD (an upload's), left as it is. */
  sourceBlob: string;
  /** The prepared page blob's name; {@link preparedBlobName} of the source when unset. */
  outputBlob?: string;
  options: PrepareOptions;
  /** The cmdlet's Timeout, in minutes (default 60). */
  timeoutMinutes?: number;
}

/**
 * The prepared blob's default name, as ipsRun names its blobs: `<name>.vhd` for `<name>-source.vhd`,
 * else `<name>-prepared.vhd` beside `<name>.vhd`.
 */
export function preparedBlobName(sourceBlob: string): string {
  const base = sourceBlob.replace(/\.vhd$/i, '');
  return /-source$/i.test(base) ? `${base.replace(/-source$/i, '')}.vhd` : `${base}-prepared.vhd`;
}

/**
 * Prepare of a blob already uploaded (tasks after 'ips-prepare-source-blob'): in a Compositing Engine
 * in Azure, blob to blob, as ipsRun prepares its upload. Before anything is made, the connector is
 * asked whether it can (Offload Compositing on, an engine image), the source blob must be there and the
 * output must not (an existing blob is not overwritten, nor removed by the compensation); then the
 * prepared blob is registered for removal and the engine does the rest. The source is only read.
 */
export async function prepareSourceBlobPhase(
  saga: Saga,
  input: IpsBlobPrepareInput,
): Promise<IpsBlobPrepareResult> {
  const outputBlob = input.outputBlob ?? preparedBlobName(input.sourceBlob);
  await ipsQuick.ipsBlobPrepareCheck({
    azureConnectorId: input.azureConnectorId,
    sourceBlob: input.sourceBlob,
    outputBlob,
  });
  return prepareBlobPhase(saga, { ...input, outputBlob });
}

/** Upload to Azure: a fixed-VHD page blob in the connector's container. */
export interface IpsAzureUploadInput {
  source: ShareFile;
  azureConnectorId: string;
  /** The page blob's name; the source's name with `.vhd` when unset. */
  blobName?: string;
}

/** Upload to a vSphere datastore (a stored disk of the connector) or to another file share. */
export interface IpsCopyUploadInput {
  source: ShareFile;
  copyTo: {
    connectorId: string;
    kind: 'hypervisor' | 'share';
    /** The disk's name there; the source's name when unset (without its extension on a datastore). */
    name?: string;
  };
}

export type IpsUploadInput = IpsAzureUploadInput | IpsCopyUploadInput;

/** A disk stored on a hypervisor connector (a VMDK on the vSphere datastore). */
export interface HypervisorDiskResult {
  connectorId: string;
  disk: string;
}

export type IpsUploadResult = AzureBlobResult | HypervisorDiskResult | ShareFileResult;

export async function uploadPhase(saga: Saga, input: IpsAzureUploadInput): Promise<AzureBlobResult> {
  const blobName = input.blobName ?? input.source.fileName.replace(/(\.vhdx?)?$/i, '.vhd');
  saga.register('uploaded blob', () => ipsQuick.ipsRemoveBlob(input.azureConnectorId, blobName));
  return ipsTransfers.ipsUploadToAzure({
    source: input.source,
    azureConnectorId: input.azureConnectorId,
    blobName,
  });
}

/** Upload as a copy: a stored disk on the hypervisor's datastore, or a file on another share. */
export async function copyPhase(
  saga: Saga,
  input: IpsCopyUploadInput,
): Promise<HypervisorDiskResult | ShareFileResult> {
  const { connectorId, kind } = input.copyTo;
  if (kind === 'share') {
    const target: ShareFile = {
      shareConnectorId: connectorId,
      fileName: input.copyTo.name ?? input.source.fileName,
    };
    saga.register('copied disk', () => ipsQuick.ipsRemoveShareFile(target));
    return ipsTransfers.ipsCopyToShare({ source: input.source, target });
  }
  const disk = input.copyTo.name ?? input.source.fileName.replace(/\.vhdx?$/i, '');
  saga.register('uploaded disk', () => ipsQuick.deleteDisk(connectorId, disk));
  const path = await ipsQuick.ipsSharePath(input.source);
  await ipsTransfers.uploadDisk(connectorId, disk, path);
  return { connectorId, disk };
}

/** The resources an MCS publish on Azure made, by resource id. */
export interface AzureMasterImage {
  diskId: string;
  imageId: string;
  vmId: string;
}

/**
 * MCS on Azure: the managed disk and image from the uploaded blob, then the master image VM on the disk.
 * Each is registered for deletion before it is made (the VM first at undo: the disk is its until then).
 */
export async function azurePublishPhase(
  saga: Saga,
  input: { azureConnectorId: string; blobName: string; name: string },
): Promise<AzureMasterImage> {
  const create = async (kind: AzureResourceRef['kind'], what: string) => {
    const ref: AzureResourceRef = { azureConnectorId: input.azureConnectorId, kind, name: input.name };
    saga.register(what, () => ipsQuick.ipsAzureDelete(ref));
    return ipsTransfers.ipsAzureCreate({ ...ref, blobName: input.blobName });
  };
  const diskId = await create('disk', 'managed disk');
  const imageId = await create('image', 'image');
  const vmId = await create('virtualMachine', 'master image VM');
  return { diskId, imageId, vmId };
}

export interface IpsPublishInput {
  source: ShareFile;
  provisioningType: 'MCS' | 'PVS';
  /** PVS: the file share connector on the store's path. MCS: the hypervisor or Azure connector. */
  targetConnectorId: string;
  /** The vDisk's or master image's name. */
  name: string;
  /** MCS on Azure: the uploaded page blob the managed disk, image and VM are made from. */
  azureBlob?: string;
}

export interface IpsPublishResult {
  pvs?: PvsVdiskResult;
  vm?: { connectorId: string; id: string; name: string; disk: string };
  azure?: AzureMasterImage;
}

export async function publishPhase(saga: Saga, input: IpsPublishInput): Promise<IpsPublishResult> {
  if (input.azureBlob !== undefined) {
    const azure = await azurePublishPhase(saga, {
      azureConnectorId: input.targetConnectorId,
      blobName: input.azureBlob,
      name: input.name,
    });
    return { azure };
  }
  if (input.provisioningType === 'PVS') {
    const store = input.targetConnectorId;
    const scratchId = uuid4();
    const scratch = saga.register('publish scratch', () => ipsQuick.removeScratch(scratchId));
    saga.register('vDisk', () =>
      ipsQuick.ipsRemoveShareFile({ shareConnectorId: store, fileName: `${input.name}.vhdx` }),
    );
    saga.register('vDisk properties', () =>
      ipsQuick.ipsRemoveShareFile({ shareConnectorId: store, fileName: `${input.name}.pvp` }),
    );
    const pvs = await ipsTransfers.ipsPublishToPvsStore({
      source: input.source,
      storeConnectorId: store,
      vdiskName: input.name,
      scratchId,
    });
    await saga.settle(scratch);
    return { pvs };
  }
  // MCS on a hypervisor: the prepared disk becomes the master image VM's boot disk (powered off; the
  // catalog is made from it).
  const connectorId = input.targetConnectorId;
  const disk = `ips-${uuid4()}`;
  const vmId = uuid4();
  const uploaded = saga.register('uploaded disk', () => ipsQuick.deleteDisk(connectorId, disk));
  const path = await ipsQuick.ipsSharePath(input.source);
  await ipsTransfers.uploadDisk(connectorId, disk, path);
  saga.register('master image VM', () => ipsQuick.destroyVm(connectorId, vmId));
  await ipsQuick.createVm(connectorId, {
    id: vmId,
    name: input.name,
    disks: [{ name: 'boot', from: disk }],
    tags: {},
  });
  // The VM holds its own clone of the disk.
  await saga.settle(uploaded);
  return { vm: { connectorId, id: vmId, name: input.name, disk: 'boot' } };
}
