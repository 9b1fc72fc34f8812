import { setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { WORKFLOW_TAG } from '../domain/vm-contract';
import { appliance, copying, diskWork } from './activity-proxies';
import { finishVersion, requireLayerType, startVersion, type LayerVersionResult } from './layer-versions';
import { withSaga, type Compensation } from './saga';
import { vmPoweredOff } from './signals';
import { waitFor } from './vm-waits';

export interface CreateLayerVersionInput {
  layerId: string;
  version: string;
  description?: string;
  /** The hypervisor the packaging machine runs on. */
  connectorId: string;
  osVersionId?: string;
  /** App layer versions installed on the packaging machine first (an app's prerequisites). */
  prerequisiteVersionIds?: string[];
  bootDiskGb?: number;
  cpus?: number;
  memoryMiB?: number;
  /** How often the power state is polled in case the power watcher's signal is missed. */
  powerPollSeconds?: number;
}

/** Instructions shown while the version is ActionRequired. */
export interface PackagingAction {
  connectorId: string;
  vm: { id: string; name: string };
  instructions: string;
}

/**
 * createLayerVersion (ARCHITECTURE.md §6): the packaging machine lifecycle. Packaging cache lookup →
 * compose the boot disk on a miss → packaging VM (boot disk + empty package disk) → ActionRequired →
 * durable wait for shutdown → finalize the package disk into the layer version → delete the VM.
 */
export async function createLayerVersion(
  input: CreateLayerVersionInput,
): Promise<LayerVersionResult & { cacheHit: boolean }> {
  const { disks } = await diskWork();
  const vmId = uuid4();
  const lookupId = uuid4();
  let poweredOff = false;
  setHandler(vmPoweredOff, (id) => {
    if (id === vmId) poweredOff = true;
  });

  return withSaga(async (saga) => {
    const version = await startVersion(saga, input);
    requireLayerType(version, ['app', 'platform'], 'a packaging machine');
    const os = version.os!;
    const prerequisites = await appliance.deployableDisks(input.prerequisiteVersionIds ?? []);
    const bootDiskBytes = (input.bootDiskGb ?? 2) * 2 ** 30;
    const scratchStep = saga.register('scratch', () => appliance.removeScratch(vmId));
    const scratch = await appliance.createScratch(vmId);

    // The boot disk's content: priority comes from creation order, so the prerequisites' order does not matter.
    const cache = await appliance.lookUpPackagingCache(lookupId, input.connectorId, [
      os.versionId,
      ...[...(input.prerequisiteVersionIds ?? [])].sort(),
      `uefi:${bootDiskBytes}`,
    ]);
    let bootDisk = cache.hit?.diskName;
    let bootUpload: Compensation | undefined;
    if (!bootDisk) {
      await disks.composeImage({
        os: os.diskPath,
        apps: prerequisites,
        sizeBytes: bootDiskBytes,
        firmware: 'uefi',
        format: 'vhdx',
        out: `${scratch}/boot.vhdx`,
      });
      if (cache.capacityBytes > 0) {
        bootDisk = cache.diskName;
        // Until admitted, the stored disk is this task's own: a stop removes it.
        const uncached = saga.register('uncached boot disk', () =>
          appliance.deleteDisk(input.connectorId, cache.diskName),
        );
        await copying.uploadDisk(input.connectorId, bootDisk, `${scratch}/boot.vhdx`);
        await appliance.admitToPackagingCache(
          input.connectorId,
          cache.cacheKey,
          bootDisk,
          cache.capacityBytes,
        );
        saga.keep(uncached);
      } else {
        bootDisk = `boot-${vmId}`;
        bootUpload = saga.register('boot disk', () =>
          appliance.deleteDisk(input.connectorId, `boot-${vmId}`),
        );
        await copying.uploadDisk(input.connectorId, bootDisk, `${scratch}/boot.vhdx`);
      }
    }

    const packageDisk = `package-${vmId}`;
    await disks.createPackageDisk({
      type: version.layerType as 'app' | 'platform',
      name: version.layerName,
      version: version.version,
      os: os.diskPath,
      out: `${scratch}/package.vhdx`,
    });
    const packageUpload = saga.register('package disk', () =>
      appliance.deleteDisk(input.connectorId, packageDisk),
    );
    await copying.uploadDisk(input.connectorId, packageDisk, `${scratch}/package.vhdx`);

    const vmName = `lamina-packaging-${version.layerName}-${version.version}`.replace(
      /[^A-Za-z0-9._-]+/g,
      '-',
    );
    const packagingVm = saga.register('packaging VM', () => appliance.destroyVm(input.connectorId, vmId));
    await appliance.createVm(input.connectorId, {
      id: vmId,
      name: vmName,
      cpus: input.cpus ?? 2,
      memoryMiB: input.memoryMiB ?? 4096,
      firmware: 'uefi',
      disks: [
        { name: 'boot', from: bootDisk },
        { name: 'package', from: packageDisk },
      ],
      tags: { [WORKFLOW_TAG]: workflowInfo().workflowId },
    });
    // The VM holds its own copies now; the uploads were only the way in.
    await saga.settle(packageUpload);
    await saga.settle(bootUpload);
    await appliance.powerOnVm(input.connectorId, vmId);

    const action: PackagingAction = {
      connectorId: input.connectorId,
      vm: { id: vmId, name: vmName },
      instructions:
        `Install the software on packaging machine ${vmName} (drive D: is the package disk; stand-in: ` +
        `lamina vm install ${vmName} --from DIR|ZIP [--reg FILE] [--deletions FILE]), then shut it down ` +
        `(lamina vm shutdown ${vmName}). The layer is finalized when the machine is off.`,
    };
    await appliance.setLayerVersionState(version.versionId, 'ActionRequired', action);
    await waitFor(
      () => poweredOff,
      async () => (await appliance.vmStatus(input.connectorId, vmId)).power === 'off',
      (input.powerPollSeconds ?? 300) * 1000,
    );

    await appliance.setLayerVersionState(version.versionId, 'Finalizing');
    // Into the scratch folder when the hypervisor's disks must be downloaded (vSphere).
    const packagePath = await appliance.exportVmDisk(input.connectorId, vmId, 'package', vmId);
    const digest = await disks.finalizePackage({
      packageDisk: packagePath,
      version: version.version,
      creationSequence: version.creationSeq,
      out: version.diskPath,
    });
    const result = await finishVersion(disks, version, digest);
    await saga.settle(packagingVm);
    await saga.settle(scratchStep);
    return { ...result, cacheHit: cache.hit !== undefined };
  });
}
