import {
  ApplicationFailure,
  executeChild,
  patched,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { CapturedVersion, LayerDiskActivities } from '../activities/layer-disks';
import type { PackagingLayers } from '../activities/layer-records';
import type { ElasticFit } from '../domain/layers';
import { WORKFLOW_TAG } from '../domain/vm-contract';
import { appliance, copying, diskWork } from './activity-proxies';
import { finishVersion, requireLayerType, startVersion, type LayerVersionResult } from './layer-versions';
import { offloadCompose, offloading, type OffloadComposeInput } from './offload-compose';
import { withSaga, type Compensation, type Saga } from './saga';
import { vmPoweredOff } from './signals';
import { waitFor } from './vm-waits';

export interface CreateLayerVersionInput {
  layerId: string;
  version: string;
  description?: string;
  /** The hypervisor the packaging machine runs on. */
  connectorId: string;
  osVersionId?: string;
  /**
   * Layer versions on the packaging machine besides the OS and the layer's previous version: app
   * layers (an app's prerequisites) and, for an app layer, at most one platform layer.
   */
  prerequisiteVersionIds?: string[];
  /**
   * The boot disk's size; unset, the OS volume and the layers on it plus PACKAGING_HEADROOM_BYTES (an
   * OS layer's: its volume's size, which its new version keeps).
   */
  bootDiskGb?: number;
  /** A folder or zip (an upload) of first-start scripts attached to the new version. */
  scripts?: string;
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

/** What the task answers: the version, whether the boot disk came from the cache, and what was captured. */
export type PackagingResult = LayerVersionResult & {
  cacheHit: boolean;
  /** Tasks started before capture by difference answer neither. */
  elasticFit?: ElasticFit;
  captured?: CapturedVersion['captured'];
};

/**
 * Tasks started before capture by difference gave the packaging machine an empty package disk (D:)
 * where the admin installed, and finalized only that disk; the boot disk was a fixed 2 GiB and held
 * no earlier version of the layer.
 */
const CAPTURE_BY_DIFFERENCE = 'capture-by-difference';
/**
 * Tasks started before the packaging boot disk followed the connector's Offload Compositing composed it
 * on the appliance and uploaded it whatever the setting.
 */
const PACKAGING_BOOT_DISK_OFFLOAD = 'packaging-boot-disk-offload';

/** Room on a packaging machine's boot disk for what the admin installs (dynamic disks: only what is written is stored). */
const PACKAGING_HEADROOM_BYTES = 4 * 2 ** 30;

/**
 * createLayerVersion (ARCHITECTURE.md §6): the packaging machine lifecycle. Packaging cache lookup →
 * compose the boot disk on a miss (the OS version, prerequisite layers and the layer's previous
 * version) → packaging VM booting from its own copy of that disk → ActionRequired → durable wait for
 * shutdown → capture the difference between the VM's boot disk and the composed one into the layer
 * version (an OS layer: its whole volume, a new version of the same OS layer) → delete the VM.
 */
export async function createLayerVersion(input: CreateLayerVersionInput): Promise<PackagingResult> {
  const { disks } = await diskWork();
  const ids = { vmId: uuid4(), lookupId: uuid4() };
  let poweredOff = false;
  setHandler(vmPoweredOff, (id) => {
    if (id === ids.vmId) poweredOff = true;
  });
  if (!patched(CAPTURE_BY_DIFFERENCE)) return packageOnPackageDisk(input, disks, ids, () => poweredOff);
  const { vmId, lookupId } = ids;

  return withSaga(async (saga) => {
    const version = await startVersion(saga, { ...input, onPreviousVersion: true });
    const isOs = version.layerType === 'os';
    // What the machine boots: an OS layer's current version alone; an app or platform layer's OS
    // version with the prerequisites and the layer's own previous version on it.
    let os: { versionId: string; diskPath: string };
    let layers: PackagingLayers = { apps: [], appVersionIds: [] };
    if (isOs) {
      if (!version.basedOn)
        throw ApplicationFailure.nonRetryable(
          `OS layer ${version.layerName} has no Deployable version to update: import its first version from a VM disk`,
          'NoVersionToUpdate',
        );
      if ((input.prerequisiteVersionIds ?? []).length > 0)
        throw ApplicationFailure.nonRetryable(
          'an OS layer version is made on its previous version alone, without prerequisite layers',
          'WrongPrerequisite',
        );
      os = { versionId: version.basedOn.versionId, diskPath: version.basedOn.diskPath };
    } else {
      os = version.os!;
      const previous = version.basedOn ? [version.basedOn.versionId] : [];
      layers = await appliance.packagingLayers(
        [...(input.prerequisiteVersionIds ?? []), ...previous],
        version.osLayerId!,
      );
    }
    const bootDiskBytes = input.bootDiskGb
      ? input.bootDiskGb * 2 ** 30
      : await disks.packagingBootDiskSize({
          os: os.diskPath,
          layers: [...layers.apps, ...(layers.platform ? [layers.platform] : [])],
          // An OS layer is updated within its volume: its next version keeps the size.
          headroomBytes: isOs ? 0 : PACKAGING_HEADROOM_BYTES,
        });
    const scratchStep = saga.register('scratch', () => appliance.removeScratch(vmId));
    const scratch = await appliance.createScratch(vmId);
    // The composed boot disk is the capture's base: kept in the scratch folder, or composed again
    // (same inputs, same bytes) when the connector's cache had it.
    const base = `${scratch}/boot.vhdx`;
    const composeBase = () =>
      disks.composeImage({
        os: os.diskPath,
        apps: layers.apps,
        platform: layers.platform,
        sizeBytes: bootDiskBytes,
        firmware: 'uefi',
        format: 'vhdx',
        out: base,
        withoutScripts: true,
        // A boot disk is not recorded: nothing needs its hash.
        hash: false,
      });

    // The boot disk's content: priority comes from creation order, so the prerequisites' order does not matter.
    const cache = await appliance.lookUpPackagingCache(lookupId, input.connectorId, [
      os.versionId,
      ...[...(input.prerequisiteVersionIds ?? [])].sort(),
      ...(version.basedOn && !isOs ? [`previous:${version.basedOn.versionId}`] : []),
      `uefi:${bootDiskBytes}`,
    ]);
    let bootDisk = cache.hit?.diskName;
    let bootUpload: Compensation | undefined;
    // With the connector's Offload Compositing on, a Compositing Engine on its platform composes the boot
    // disk straight into its storage; the capture's base is then composed on the appliance when needed.
    let offloaded = false;
    if (!bootDisk) {
      offloaded =
        patched(PACKAGING_BOOT_DISK_OFFLOAD) && (await offloading.offloadCompositingOf(input.connectorId));
      if (!offloaded) await composeBase();
      const cached = cache.capacityBytes > 0;
      const diskName = cached ? cache.diskName : `boot-${vmId}`;
      // Until admitted to the cache, the stored disk is this task's own: a stop removes it.
      const stored = saga.register(cached ? 'uncached boot disk' : 'boot disk', () =>
        appliance.deleteDisk(input.connectorId, diskName),
      );
      if (offloaded)
        await composeBootDiskOffloaded(saga, `packaging-boot-disk-${vmId}`, {
          connectorId: input.connectorId,
          diskName,
          os: os.versionId,
          apps: layers.appVersionIds,
          platform: layers.platformVersionId,
          sizeBytes: bootDiskBytes,
        });
      else await copying.uploadDisk(input.connectorId, diskName, base);
      if (cached) {
        await appliance.admitToPackagingCache(
          input.connectorId,
          cache.cacheKey,
          diskName,
          cache.capacityBytes,
        );
        saga.keep(stored);
      } else bootUpload = stored;
      bootDisk = diskName;
    }

    const vmName = `lamina-packaging-${version.layerName}-${version.version}`.replace(
      /[^A-Za-z0-9._-]+/g,
      '-',
    );
    const packagingVm = saga.register('packaging VM', () => appliance.destroyVm(input.connectorId, vmId));
    // The VM's boot disk outlives the stored one: a differencing child of it that keeps its parent (the
    // local connector), or a copy (vSphere).
    await appliance.createVm(input.connectorId, {
      id: vmId,
      name: vmName,
      cpus: input.cpus ?? 2,
      memoryMiB: input.memoryMiB ?? 4096,
      firmware: 'uefi',
      disks: [{ name: 'boot', from: bootDisk }],
      tags: { [WORKFLOW_TAG]: workflowInfo().workflowId },
    });
    await saga.settle(bootUpload);
    await appliance.powerOnVm(input.connectorId, vmId);

    const action: PackagingAction = {
      connectorId: input.connectorId,
      vm: { id: vmId, name: vmName },
      instructions: isOs
        ? `Update Windows on packaging machine ${vmName} (updates, drivers, settings), then shut it down ` +
          `(lamina vm shutdown ${vmName}). Its whole Windows volume becomes version ${version.version} of ` +
          `${version.layerName}; app layers made on earlier versions keep working with it. Stand-in: ` +
          `lamina vm install ${vmName} [--from DIR|ZIP] [--reg FILE] [--deletions FILE].`
        : `Install the software on packaging machine ${vmName} as on any Windows machine (onto C: and ` +
          `HKLM), then shut it down (lamina vm shutdown ${vmName}). What changed is captured into the layer ` +
          `when the machine is off. Stand-in: lamina vm install ${vmName} [--from DIR|ZIP] [--reg FILE] [--deletions FILE].`,
    };
    await appliance.setLayerVersionState(version.versionId, 'ActionRequired', action);
    await waitFor(
      () => poweredOff,
      async () => (await appliance.vmStatus(input.connectorId, vmId)).power === 'off',
      (input.powerPollSeconds ?? 300) * 1000,
    );

    await appliance.setLayerVersionState(version.versionId, 'Finalizing');
    // Into the scratch folder when the hypervisor's disks must be downloaded (vSphere).
    const after = await appliance.exportVmDisk(input.connectorId, vmId, 'boot', vmId);
    if (cache.hit || offloaded) await composeBase();
    const captured = await disks.captureLayerVersion({
      base,
      after,
      osLayer: os.diskPath,
      type: version.layerType,
      name: version.layerName,
      version: version.version,
      creationSequence: version.creationSeq,
      ...(isOs
        ? { layer: { id: input.layerId, versions: (version.earlier ?? []).map((v) => v.diskPath) } }
        : {}),
      ...(version.basedOn && !isOs ? { previous: version.basedOn.diskPath } : {}),
      ...(input.scripts ? { scripts: input.scripts } : {}),
      out: version.diskPath,
      scratch,
    });
    const result = await finishVersion(disks, version, captured, captured.elasticFit);
    await saga.settle(packagingVm);
    await saga.settle(scratchStep);
    return {
      ...result,
      cacheHit: cache.hit !== undefined,
      elasticFit: captured.elasticFit,
      captured: captured.captured,
    };
  });
}

/**
 * The packaging boot disk composed by offloadCompose (a child task) into the connector's stored disk
 * `diskName`; the engine's compose report is of no use to a packaging machine and is removed.
 */
async function composeBootDiskOffloaded(
  saga: Saga,
  /** The child task's id, named by the packaging machine: unique per task, whatever id the task runs under. */
  childId: string,
  disk: Pick<OffloadComposeInput, 'connectorId' | 'diskName' | 'os' | 'apps' | 'platform' | 'sizeBytes'>,
): Promise<void> {
  const reportId = uuid4();
  const report = saga.register('boot disk compose report', () => appliance.removeConflictReport(reportId));
  await executeChild(offloadCompose, {
    workflowId: childId,
    args: [{ ...disk, firmware: 'uefi', format: 'vhdx', withoutScripts: true, reportId }],
  });
  await saga.settle(report);
}

/**
 * The packaging machine as tasks started before capture by difference run it: an empty package disk
 * (D:) beside the boot disk, finalized into the layer version; app and platform layers only.
 */
async function packageOnPackageDisk(
  input: CreateLayerVersionInput,
  disks: LayerDiskActivities,
  ids: { vmId: string; lookupId: string },
  poweredOff: () => boolean,
): Promise<PackagingResult> {
  const { vmId, lookupId } = ids;
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
        hash: false,
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
      poweredOff,
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
