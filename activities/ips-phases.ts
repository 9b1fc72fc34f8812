import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { PrepareReport } from '../compositor/prepare/prepare-image';
import type { PrepareOptions } from '../compositor/prepare/prepare-options';
import { AzureConnector } from '../connectors/azure/azure-connector';
import { AzureCeHost } from '../connectors/azure/azure-ce-host';
import type { AzureResourceKind } from '../connectors/azure/resource-manager';
import { FileshareConnector } from '../connectors/fileshare/fileshare-connector';
import { LocalCeHost } from '../connectors/local/local-ce-host';
import { VsphereCeHost } from '../connectors/vsphere/ce-host/vsphere-ce-host';
import { getEngine, offloadCompositingOf } from '../db/compositing-engines';
import { convertDisk, openDisk } from '../disk';
import { withConnector, withVmHost, type ConnectorAccessDeps } from './connector-access';
import type { FileDigest } from './file-digest';
import { sealForEngine } from './ips-engine-blobs';
import { prepareFile } from './ips-engine-prepare';
import { removeLeftovers } from './leftovers';
import { heartbeatProgress, previousResumeToken, type HeartbeatDetails } from './heartbeat';
import { scratchFolder } from './scratch';

export type { PrepareOptions, PrepareReport };

/**
 * Where a target's Compositing Engine prepares: beside the disk on the share (`share`), or from the
 * uploaded page blob into a prepared one (`blob`, Azure).
 */
export type PrepareEngineAt = 'share' | 'blob';

export interface IpsDeps extends ConnectorAccessDeps {
  scratchDir: string;
}

/** A disk file on a share, as Image Portability phases hand it on: the share's connector and the file's name. */
export interface ShareFile {
  shareConnectorId: string;
  fileName: string;
}

export interface ShareFileResult extends ShareFile, FileDigest {
  /** Where the admin finds it (a UNC path). */
  location: string;
}

export interface AzureBlobResult {
  blobName: string;
  url: string;
  blobSize: number;
  /** Bytes this attempt sent (0 when an earlier attempt finished it). */
  sent: number;
}

/** One of the resources an MCS publish on Azure makes from the uploaded blob, all named as the image. */
export interface AzureResourceRef {
  azureConnectorId: string;
  kind: AzureResourceKind;
  name: string;
}

/** The pieces of a PVS vDisk in the store: the disk and the properties file PVS registers it from. */
export interface PvsVdiskResult {
  disk: ShareFileResult;
  properties: { fileName: string; location: string };
}

/**
 * The Image Portability phases' work on connectors (ARCHITECTURE.md §6): each takes connector ids and
 * names the workflow chose, reads the connectors' settings and secrets from Postgres itself, and is
 * idempotent — a retry finds what an earlier attempt finished. Long ones heartbeat `{phase, done,
 * total}` and a resume token.
 */
export function createIpsActivities(deps: IpsDeps) {
  const withShare = <T>(connectorId: string, use: (share: FileshareConnector) => Promise<T>) =>
    withConnector(deps, connectorId, (connector) => {
      if (!(connector instanceof FileshareConnector))
        throw ApplicationFailure.nonRetryable(
          `Image Portability keeps its disks on a Windows File Share connector; this one is '${connector.type}'`,
          'ConnectorNotCapable',
        );
      return use(connector);
    });
  const withAzure = <T>(connectorId: string, use: (azure: AzureConnector) => Promise<T>) =>
    withConnector(deps, connectorId, (connector) => {
      if (!(connector instanceof AzureConnector))
        throw ApplicationFailure.nonRetryable(
          `page blobs and Azure resources need an Azure connector; this one is '${connector.type}'`,
          'ConnectorNotCapable',
        );
      return use(connector);
    });

  /** The local path of a disk the phase reads from a share; a file that is not there fails the task at once. */
  const sourceOn = (file: ShareFile) =>
    withShare(file.shareConnectorId, async (share) => {
      const local = share.localPath(file.fileName);
      if (!(await fs.stat(local).catch(() => undefined)))
        throw ApplicationFailure.nonRetryable(
          `${share.locationOf(file.fileName)} does not exist: the share has no disk '${file.fileName}'`,
          'IpsSourceMissing',
        );
      return local;
    });

  async function prepareEngineAt(targetConnectorId: string): Promise<PrepareEngineAt | undefined> {
    if (!(await offloadCompositingOf(deps.pool, targetConnectorId))) return undefined;
    return withConnector(deps, targetConnectorId, async (connector) => {
      if (connector.ce instanceof LocalCeHost || connector.ce instanceof VsphereCeHost) return 'share';
      if (connector.ce instanceof AzureCeHost) return 'blob';
      return undefined;
    });
  }

  /** Copies a local file into the share as `fileName`, resuming from the last heartbeat's offset; then hashes it. */
  async function putOnShare(
    shareConnectorId: string,
    source: string,
    fileName: string,
    phase: string,
  ): Promise<ShareFileResult> {
    const beat = heartbeatProgress<number>(phase);
    const signal = Context.current().cancellationSignal;
    return withShare(shareConnectorId, async (share) => {
      const stored = await share
        .putImage(source, fileName, {
          resumeFrom: previousResumeToken<number>() ?? 0,
          onProgress: ({ done, total }) => beat({ done, total, resume: done }),
          signal,
        })
        .catch((err: unknown) => {
          throw signal.aborted ? new CancelledFailure(`${phase} stopped`) : err;
        });
      return {
        shareConnectorId,
        fileName,
        location: share.locationOf(fileName),
        sizeBytes: stored.sizeBytes,
        sha256: stored.sha256,
      };
    });
  }

  return {
    /**
     * Export: a VM's disk on a local or vSphere connector → a VHDX on the share, with its SHA-256. The
     * disk is converted once into the task's scratch folder (it appears there only when complete, so a
     * retry after it skips it), then copied to the share resumably.
     */
    async ipsExportDisk(input: {
      sourceConnectorId: string;
      vmId: string;
      disk: string;
      scratchId: string;
      target: ShareFile;
    }): Promise<ShareFileResult> {
      const scratch = scratchFolder(deps.scratchDir, input.scratchId);
      await fs.mkdir(scratch, { recursive: true });
      const converted = path.join(scratch, 'export.vhdx');
      if (!(await fs.stat(converted).catch(() => undefined))) {
        Context.current().heartbeat({ phase: 'export', done: 0, total: 1 } satisfies HeartbeatDetails);
        const exported = await withVmHost(deps, input.sourceConnectorId, (host) =>
          host.exportDisk(input.vmId, input.disk, scratch),
        );
        const disk = await openDisk(exported);
        const beat = heartbeatProgress('convert');
        try {
          await convertDisk(disk, 'vhdx', converted, {
            onProgress: ({ done, total }) => beat({ done, total }),
            signal: Context.current().cancellationSignal,
          });
        } finally {
          await disk.close();
        }
      }
      return putOnShare(input.target.shareConnectorId, converted, input.target.fileName, 'copy');
    },

    /** Removes a file the task put on a share (and any partial copy of it). */
    async ipsRemoveShareFile(file: ShareFile): Promise<void> {
      await withShare(file.shareConnectorId, async (share) => {
        await share.removeImage(file.fileName);
        // A prepare stopped or killed midway leaves its partial copy and work folder beside the file.
        await removeLeftovers(share.localPath(file.fileName));
      });
    },

    /**
     * Prepare, offline on the appliance (compositor/prepare): a copy of the share's disk made fit for the
     * target platform and provisioning, written next to it as `output`. Nothing is half-written: the copy
     * appears only when complete; a retry prepares again from the untouched source.
     */
    async ipsPrepareDisk(input: {
      source: ShareFile;
      output: string;
      options: PrepareOptions;
    }): Promise<ShareFileResult & PrepareReport> {
      const source = await sourceOn(input.source);
      return withShare(input.source.shareConnectorId, async (share) => ({
        shareConnectorId: input.source.shareConnectorId,
        fileName: input.output,
        location: share.locationOf(input.output),
        ...(await prepareFile(source, share.localPath(input.output), input.options)),
      }));
    },

    /**
     * Whether prepare for this target runs in a Compositing Engine on it: its Offload Compositing is on
     * and its engines reach the share the disks are on (the local connector's, which run on the
     * appliance). Elsewhere prepare runs on the appliance.
     */
    async ipsPrepareOffloaded(targetConnectorId: string): Promise<boolean> {
      if (!(await offloadCompositingOf(deps.pool, targetConnectorId))) return false;
      return withConnector(deps, targetConnectorId, async (connector) => connector.ce instanceof LocalCeHost);
    },

    /**
     * Where prepare for this target runs (asked by tasks that started after the patch
     * 'ips-prepare-on-target-engines'): undefined when the target's Offload Compositing is off or its
     * type has no engines (the appliance prepares); `share` when its engines read and write the share
     * the disks are on — the local connector's, which run on the appliance, and vSphere's, whose engine
     * VM mounts the share; `blob` on Azure, whose engine reads the uploaded page blob and writes the
     * prepared one (an Azure engine cannot reach the appliance's shares).
     */
    ipsPrepareEngine: prepareEngineAt,

    /** Where a prepare on an engine reads the source and writes the copy: paths under the share's mount. */
    async ipsEnginePreparePaths(input: {
      source: ShareFile;
      output: string;
    }): Promise<{ source: string; output: string }> {
      const source = await sourceOn(input.source);
      return withShare(input.source.shareConnectorId, async (share) => ({
        source,
        output: share.localPath(input.output),
      }));
    },

    /** A disk an engine prepared onto the share, as the task's result names it. */
    async ipsShareResult(input: { file: ShareFile; digest: FileDigest }): Promise<ShareFileResult> {
      return withShare(input.file.shareConnectorId, async (share) => ({
        ...input.file,
        location: share.locationOf(input.file.fileName),
        ...input.digest,
      }));
    },

    /**
     * Upload: the share's disk → a page blob holding a fixed VHD in the Azure connector's container.
     * Heartbeats the blob's committed watermark; a retry (a worker killed, a connection lost) resumes
     * from it and the blob's page ranges, sending only what is not there.
     */
    async ipsUploadToAzure(input: {
      source: ShareFile;
      azureConnectorId: string;
      blobName: string;
    }): Promise<AzureBlobResult> {
      const source = await sourceOn(input.source);
      const beat = heartbeatProgress<number>('upload');
      const signal = Context.current().cancellationSignal;
      const resumeFrom = previousResumeToken<number>();
      if (resumeFrom !== undefined)
        Context.current().log.warn(`resuming the upload of ${input.blobName} above byte ${resumeFrom}`);
      return withAzure(input.azureConnectorId, async (azure) => {
        const result = await azure
          .uploadVhd(source, input.blobName, {
            resumeFrom,
            signal,
            onProgress: ({ done, total, resume }) => beat({ done, total, resume }),
          })
          .catch((err: unknown) => {
            throw signal.aborted ? new CancelledFailure('upload stopped') : err;
          });
        return {
          blobName: input.blobName,
          url: azure.blobUrl(input.blobName),
          blobSize: result.blobSize,
          sent: result.sent,
        };
      });
    },

    /**
     * What an Azure Compositing Engine prepares with: the source and output blobs' URLs, and their
     * blob-scoped SAS tokens (read on the source, create and write on the output, expiring with the
     * prepare's timeout) sealed under the engine's one-time token, so no SAS enters the task's history.
     */
    async ipsEngineBlobAccess(input: {
      azureConnectorId: string;
      engineId: string;
      sourceBlob: string;
      outputBlob: string;
      minutes: number;
    }): Promise<{ source: string; output: string; sealed: string }> {
      const engine = await getEngine(deps.pool, input.engineId);
      if (!engine)
        throw ApplicationFailure.nonRetryable(
          `Compositing Engine ${input.engineId} has no record: it was removed`,
          'EngineRefused',
        );
      const token = deps.secrets.open(engine.token);
      return withAzure(input.azureConnectorId, async (azure) => {
        if (!(await azure.hasBlob(input.sourceBlob)))
          throw ApplicationFailure.nonRetryable(
            `${azure.blobUrl(input.sourceBlob)} does not exist: upload the disk before preparing it`,
            'IpsSourceMissing',
          );
        // A few minutes beyond the timeout: the engine's last Put Page is not refused as the task ends.
        const expiresOn = new Date(Date.now() + (input.minutes + 10) * 60_000);
        return {
          source: azure.blobUrl(input.sourceBlob),
          output: azure.blobUrl(input.outputBlob),
          sealed: sealForEngine(token, {
            source: await azure.blobSas(input.sourceBlob, 'r', expiresOn),
            output: await azure.blobSas(input.outputBlob, 'cw', expiresOn),
          }),
        };
      });
    },

    /**
     * Before a prepare of a blob already uploaded makes anything (ipsPrepare with `sourceBlob`): the
     * connector prepares blobs in a Compositing Engine in Azure (Offload Compositing on, an engine image,
     * tokens it can sign for the engine), the source is a page blob in its container, and the output is
     * not there yet (prepare does not overwrite a blob, and its compensation removes only what it made).
     * Each refusal names the blob or the setting, and fails the task at once.
     */
    async ipsBlobPrepareCheck(input: {
      azureConnectorId: string;
      sourceBlob: string;
      outputBlob: string;
    }): Promise<void> {
      if ((await prepareEngineAt(input.azureConnectorId)) !== 'blob')
        throw ApplicationFailure.nonRetryable(
          'the Azure connector has Offload Compositing off: a blob in Azure is prepared in a Compositing ' +
            'Engine in Azure; turn Offload Compositing on (with ceImageId), or prepare the disk on its share ' +
            'before uploading it',
          'ConnectorNotCapable',
        );
      await withAzure(input.azureConnectorId, async (azure) => {
        if (!azure.settings.ceImageId)
          throw ApplicationFailure.nonRetryable(
            'the Azure connector names no Compositing Engine image (ceImageId): a blob in Azure is prepared ' +
              'in an engine made from it',
            'ConnectorNotCapable',
          );
        if (input.outputBlob === input.sourceBlob)
          throw ApplicationFailure.nonRetryable(
            `the prepared blob must be another than its source '${input.sourceBlob}', which is left as it is`,
            'ValidationError',
          );
        const kind = await azure.blobType(input.sourceBlob);
        if (kind === undefined)
          throw ApplicationFailure.nonRetryable(
            `${azure.blobUrl(input.sourceBlob)} does not exist: container '${azure.settings.container}' ` +
              `has no blob '${input.sourceBlob}' to prepare`,
            'IpsSourceMissing',
          );
        if (kind !== 'PageBlob')
          throw ApplicationFailure.nonRetryable(
            `${azure.blobUrl(input.sourceBlob)} is a ${kind}: prepare reads a page blob holding a fixed VHD ` +
              '(as lamina ips upload writes one)',
            'IpsSourceRefused',
          );
        if ((await azure.blobType(input.outputBlob)) !== undefined)
          throw ApplicationFailure.nonRetryable(
            `${azure.blobUrl(input.outputBlob)} exists already: name another output blob (prepare does not ` +
              'overwrite a blob)',
            'IpsOutputExists',
          );
        // The engine's tokens: a connector that cannot sign them says so before an engine VM is made.
        await azure.blobSas(input.sourceBlob, 'r', new Date(Date.now() + 60_000));
      });
    },

    async ipsRemoveBlob(azureConnectorId: string, blobName: string): Promise<void> {
      await withAzure(azureConnectorId, (azure) => azure.deleteBlob(blobName));
    },

    /**
     * Publish for MCS on Azure, one resource at a time through Resource Manager: the managed disk and the
     * image are made from the uploaded blob (booted as the generation its partition table says), the
     * master image VM from the disk. A PUT of a resource the workflow named, so a retry finds its own;
     * heartbeats while Azure works, and stops polling when the task is stopped.
     */
    async ipsAzureCreate(input: AzureResourceRef & { blobName: string }): Promise<string> {
      const context = Context.current();
      const signal = context.cancellationSignal;
      const keepAlive = setInterval(
        () => context.heartbeat({ phase: `create ${input.kind}`, done: 0, total: 1 }),
        1000,
      );
      try {
        return await withAzure(input.azureConnectorId, async (azure) => {
          const arm = azure.resourceManager();
          if (input.kind === 'virtualMachine') return arm.createMasterVm(input.name, input.name, signal);
          const generation = await azure.hyperVGenerationOf(input.blobName);
          const blob = azure.blobUrl(input.blobName);
          return input.kind === 'disk'
            ? arm.createDiskFromBlob(input.name, blob, generation, signal)
            : arm.createImageFromBlob(input.name, blob, generation, signal);
        });
      } catch (err) {
        throw signal.aborted ? new CancelledFailure(`creating the ${input.kind} stopped`) : err;
      } finally {
        clearInterval(keepAlive);
      }
    },

    /** Deletes a resource the task made on Azure; one that is not there is already deleted. */
    async ipsAzureDelete(input: AzureResourceRef): Promise<void> {
      const context = Context.current();
      const keepAlive = setInterval(
        () => context.heartbeat({ phase: `delete ${input.kind}`, done: 0, total: 1 }),
        1000,
      );
      try {
        await withAzure(input.azureConnectorId, (azure) =>
          azure.resourceManager().delete(input.kind, input.name),
        );
      } finally {
        clearInterval(keepAlive);
      }
    },

    /** Upload to a file share as its own target: the disk copied there resumably, with its SHA-256. */
    async ipsCopyToShare(input: { source: ShareFile; target: ShareFile }): Promise<ShareFileResult> {
      const source = await sourceOn(input.source);
      return putOnShare(input.target.shareConnectorId, source, input.target.fileName, 'copy');
    },

    /** The local path of a share's disk, for the VM upload of an MCS publish (every worker mounts the share). */
    async ipsSharePath(file: ShareFile): Promise<string> {
      return sourceOn(file);
    },

    /**
     * Publish to PVS: the disk and its properties file (.pvp) into the store, through the file-share
     * connector configured on the store's path, as the reference says; an admin registers it in the PVS
     * console or with its cmdlets.
     */
    async ipsPublishToPvsStore(input: {
      source: ShareFile;
      storeConnectorId: string;
      vdiskName: string;
      scratchId: string;
    }): Promise<PvsVdiskResult> {
      const source = await sourceOn(input.source);
      const disk = await putOnShare(input.storeConnectorId, source, `${input.vdiskName}.vhdx`, 'copy');
      const scratch = scratchFolder(deps.scratchDir, input.scratchId);
      await fs.mkdir(scratch, { recursive: true });
      const pvp = path.join(scratch, `${input.vdiskName}.pvp`);
      await fs.writeFile(pvp, pvsProperties(input.vdiskName));
      const propertiesName = `${input.vdiskName}.pvp`;
      return withShare(input.storeConnectorId, async (store) => {
        await store.putImage(pvp, propertiesName, { resumeFrom: 0, onProgress: () => undefined });
        return { disk, properties: { fileName: propertiesName, location: store.locationOf(propertiesName) } };
      });
    },
  };
}

/**
 * The vDisk properties file that goes beside a disk in the store, which PVS reads when the disk is added
 * (the console's "Add or import existing vDisks"): access mode Private (0) and write cache on the server
 * (0), so the admin reviews the disk before switching it to Standard mode.
 */
function pvsProperties(vdiskName: string): string {
  return [
    '[Version]',
    'Version=5',
    '',
    '[vDisk]',
    `Description=Imported by Lamina Image Portability: ${vdiskName}`,
    'Mode=0',
    'WriteCacheType=0',
    'VHDBlockSize=2048',
    'Enabled=1',
    'ActiveDirectory=1',
    'PrinterManagement=0',
    'AutoUpdateEnabled=0',
    'LicenseMode=0',
    '',
  ].join('\r\n');
}

export type IpsActivities = ReturnType<typeof createIpsActivities>;
