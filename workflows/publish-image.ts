import { executeChild, patched, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import type { FileDigest } from '../activities/file-digest';
import type { ComposeImageInput, UnhashedImage } from '../activities/layer-disks';
import type { PostPublishResult } from '../activities/publishing';
import type { Snapshot } from '../connectors/vm-host';
import { DISK_FIRMWARE } from '../domain/firmware';
import { CONTAINER_FORMAT } from '../domain/image-formats';
import { WORKFLOW_TAG, type ScriptsReport } from '../domain/vm-contract';
import { appliance, copying, diskWork } from './activity-proxies';
import { offloadCompose, offloading, type OffloadedImage } from './offload-compose';
import { imageFileName, imageName } from './image-names';
import { withSaga, type Compensation } from './saga';
import { scriptsReported, vmPoweredOff } from './signals';
import { waitFor } from './vm-waits';

export interface PublishImageInput {
  templateId: string;
  /** MCS master images: how long the layers' first-start scripts may take before the VM is shut down anyway. */
  scriptsTimeoutSeconds?: number;
  powerPollSeconds?: number;
}

export interface PublishImageResult {
  imageId: string;
  name: string;
  /** Where the image is, as the admin sees it: a UNC path, or the master image VM. */
  location: string;
  sha256: string;
  sizeBytes: number;
  conflicts: { files: number; registry: number; summary: string[] };
  vm?: { id: string; name: string; snapshot: string; refs?: Snapshot['refs']; scripts?: ScriptsReport };
  postPublish: PostPublishResult;
  /** With Offload Compositing: the Compositing Engine that composed the image (OffloadedImage). */
  compositedBy?: OffloadedImage['compositedBy'];
}

/** Tasks started before master disks had a location exported the disk to name its path. */
const MASTER_DISK_LOCATION = 'master-disk-location';
/** Tasks started before the scratch image was named by the task composed it under the image's name. */
const SCRATCH_IMAGE_BY_ID = 'scratch-image-by-id';
/**
 * Tasks started before compose reports were stored in the repository by id kept the report next to
 * the composed image and recorded it from that path, on the compose worker's disk.
 */
const REPORT_BY_ID = 'compose-report-by-id';
/**
 * Tasks started before image names were reserved took the stamped name as it was: two publishes of
 * one template in the same second shared a file, and stopping one removed the other's.
 */
const RESERVED_IMAGE_NAME = 'reserved-image-name';
/**
 * Tasks started before an image for a share was hashed by its copy hashed it in the compose step, reading
 * the whole image once more.
 */
const HASH_WHILE_COPYING = 'hash-image-while-copying';
/** Tasks started before Offload Compositing was read composed on the appliance whatever the setting. */
const OFFLOAD_COMPOSE = 'offload-compose';
/**
 * Tasks started before compose kept the layers' scripts waited for a scripts report from every master
 * image, whether or not it had a runner (none had: they waited out the timeout).
 */
const WAIT_ONLY_FOR_PLACED_SCRIPTS = 'wait-only-for-placed-scripts';
/**
 * Tasks started before the template's elastic layering and user-layer options reached the image composed
 * it without them (their plans did not carry the settings either).
 */
const IMAGE_SETTINGS = 'template-image-settings';

/**
 * publishImage (ARCHITECTURE.md §6): validate the template → compose → deliver to the connector (an
 * image file on a share, or an MCS master image VM: start it, let the layers' scripts run, shut it
 * down, snapshot) → post-publish script → record the published image with hash and conflict report.
 */
export async function publishImage(input: PublishImageInput): Promise<PublishImageResult> {
  const { disks } = await diskWork();
  const imageId = uuid4();
  const vmId = uuid4();
  let poweredOff = false;
  let scripts: ScriptsReport | undefined;
  setHandler(vmPoweredOff, (id) => {
    if (id === vmId) poweredOff = true;
  });
  setHandler(scriptsReported, (id, report) => {
    if (id === vmId) scripts = report;
  });

  return withSaga(async (saga) => {
    const plan = await appliance.planPublish(input.templateId);
    const connectorId = plan.connector.id;
    // The workflow's clock: a retry or a replay names the image the same.
    const stamped = imageName(plan.template.name, new Date());
    // Unique per task (a suffix when another publish has the stamp), decided once and kept in history.
    const name = patched(RESERVED_IMAGE_NAME) ? await appliance.reserveImageName(imageId, stamped) : stamped;
    const format = CONTAINER_FORMAT[plan.template.diskFormat];
    const firmware = DISK_FIRMWARE[plan.template.firmware];

    const scratchStep = saga.register('scratch', () => appliance.removeScratch(imageId));
    const scratch = await appliance.createScratch(imageId);
    // The compose's own file (and so its work folder) is named by the task, never by the template.
    const imagePath = patched(SCRATCH_IMAGE_BY_ID)
      ? `${scratch}/image.${format}`
      : `${scratch}/${imageFileName(name, format)}`;
    const reportById = patched(REPORT_BY_ID);
    // The full report is stored under the image's id; it stays only if the image is published.
    const report = reportById
      ? saga.register('conflict report', () => appliance.removeConflictReport(imageId))
      : undefined;
    const upload = `image-${imageId}`;
    // With the connector's Offload Compositing on, a Compositing Engine on its platform composes the
    // image straight into its storage, as the stored disk the master image VM is made from.
    const offloaded =
      plan.delivery === 'vm' &&
      patched(OFFLOAD_COMPOSE) &&
      (await offloading.offloadCompositingOf(connectorId));
    const sizeBytes = plan.template.diskSizeGb * 2 ** 30;
    // What the Layering Service on the desktops needs to find the elastic layer share and user layers.
    const settings = patched(IMAGE_SETTINGS) ? plan.settings : undefined;
    // The image, wherever it is composed: its layers are named by version there, by disk here.
    const image = { sizeBytes, firmware, format, ...(settings ? { settings } : {}) };
    const onAppliance: ComposeImageInput = {
      os: plan.os.diskPath,
      apps: plan.apps.map((a) => a.diskPath),
      platform: plan.platform?.diskPath,
      ...image,
      out: imagePath,
      ...(reportById ? { reportId: imageId } : {}),
    };
    // An image for a share is hashed by its copy there, as the copy reads it: not read once more for it.
    const hashedByCopy = plan.delivery === 'file' && patched(HASH_WHILE_COPYING);
    /** The image's size and SHA-256: the compose's, or for an image hashed by its copy, the copy's. */
    let digest: FileDigest | undefined;
    // Undefined for a compose on the appliance, and for offloaded composes that finished before
    // offloadCompose named its engine.
    let compositedBy: OffloadedImage['compositedBy'] | undefined;
    let composed: UnhashedImage;
    if (offloaded) {
      const offloadedImage = await executeChild(offloadCompose, {
        workflowId: `${workflowInfo().workflowId}-offload-compose`,
        args: [
          {
            connectorId,
            os: plan.os.versionId,
            apps: plan.apps.map((a) => a.versionId),
            platform: plan.platform?.versionId,
            ...image,
            diskName: upload,
            reportId: imageId,
          },
        ],
      });
      composed = digest = offloadedImage;
      compositedBy = offloadedImage.compositedBy;
    } else if (hashedByCopy) composed = await disks.composeImage({ ...onAppliance, hash: false });
    else composed = digest = await disks.composeImage(onAppliance);

    let location: string;
    let publishedPath: string;
    let vm: PublishImageResult['vm'];
    /** The published file or master image VM: removed on failure, the task's result on success. */
    let delivered: Compensation;
    if (plan.delivery === 'file') {
      const fileName = imageFileName(name, format);
      delivered = saga.register('published file', () =>
        appliance.removeImageFromStore(connectorId, fileName),
      );
      const copied = await copying.copyImageToStore(connectorId, imagePath, fileName);
      digest ??= { sha256: copied.sha256, sizeBytes: copied.sizeBytes };
      location = copied.location;
      publishedPath = copied.path;
    } else {
      const pollMs = (input.powerPollSeconds ?? 30) * 1000;
      const uploaded = saga.register('uploaded image', () => appliance.deleteDisk(connectorId, upload));
      if (!offloaded) await copying.uploadDisk(connectorId, upload, imagePath);
      delivered = saga.register('master image VM', () => appliance.destroyVm(connectorId, vmId));
      await appliance.createVm(connectorId, {
        id: vmId,
        name,
        // Sized by the host: on vSphere the connector's template VM gives the master image's hardware.
        firmware,
        disks: [{ name: 'boot', from: upload }],
        tags: { [WORKFLOW_TAG]: workflowInfo().workflowId },
      });
      await saga.settle(uploaded);
      await appliance.powerOnVm(connectorId, vmId);
      const status = () => appliance.vmStatus(connectorId, vmId);
      // The image's first-start runner reports when the layers' scripts ran; without scripts there is no runner.
      if (!patched(WAIT_ONLY_FOR_PLACED_SCRIPTS) || composed.scripts > 0)
        await waitFor(
          () => scripts !== undefined,
          async () => (scripts = (await status()).scriptsReport) !== undefined,
          pollMs,
          (input.scriptsTimeoutSeconds ?? 1800) * 1000,
        );
      await appliance.shutdownVm(connectorId, vmId);
      await waitFor(
        () => poweredOff,
        async () => (await status()).power === 'off',
        pollMs,
      );
      const snapshot = await appliance.snapshotVm(connectorId, vmId, name);
      vm = { id: vmId, name, snapshot: snapshot.name, refs: snapshot.refs, scripts };
      location = `vm:${name}`;
      // Where the master disk is, not a copy of it: on vSphere that is a datastore path.
      publishedPath = patched(MASTER_DISK_LOCATION)
        ? await appliance.vmDiskLocation(connectorId, vmId, 'boot')
        : await appliance.exportVmDisk(connectorId, vmId, 'boot');
    }

    if (!digest) throw new Error('the image was hashed neither by its compose nor by its copy');
    const postPublish = await appliance.runPostPublishScript(connectorId, {
      LAMINA_IMAGE_NAME: name,
      LAMINA_IMAGE_PATH: publishedPath,
      LAMINA_IMAGE_SHA256: digest.sha256,
      LAMINA_TEMPLATE_NAME: plan.template.name,
      LAMINA_CONNECTOR_NAME: plan.connector.name,
      LAMINA_CONNECTOR_TYPE: plan.connector.type,
      ...(vm ? { LAMINA_VM_NAME: vm.name, LAMINA_SNAPSHOT_NAME: vm.snapshot } : {}),
    });
    const record = saga.register('published image record', () => appliance.forgetPublishedImage(imageId));
    await appliance.recordPublishedImage({
      id: imageId,
      name,
      plan,
      outputLocation: location,
      sha256: digest.sha256,
      ...(reportById ? { reportId: imageId } : { reportPath: composed.reportPath }),
      taskId: workflowInfo().workflowId,
      vm: vm && { id: vm.id, name: vm.name, snapshot: vm.snapshot, refs: vm.refs },
      postPublish,
    });
    // Published: the file or VM is the task's result now, and stays.
    saga.keep(delivered);
    saga.keep(record);
    saga.keep(report);
    await saga.settle(scratchStep);
    return {
      imageId,
      name,
      location,
      sha256: digest.sha256,
      sizeBytes: digest.sizeBytes,
      conflicts: {
        files: composed.fileConflicts,
        registry: composed.registryConflicts,
        summary: composed.conflictSummary,
      },
      vm,
      postPublish,
      ...(compositedBy ? { compositedBy } : {}),
    };
  });
}
