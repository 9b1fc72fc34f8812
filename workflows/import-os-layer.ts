import { patched } from '@temporalio/workflow';
import { appliance, diskWork } from './activity-proxies';
import { finishVersion, requireLayerType, startVersion, type LayerVersionResult } from './layer-versions';
import { withSaga, type Compensation } from './saga';

export interface ImportOsLayerInput {
  layerId: string;
  version: string;
  description?: string;
  /** A VM on a connector (its boot disk is exported), or a disk file the appliance can read. */
  source: { connectorId: string; vmId: string; disk?: string } | { diskPath: string };
}

/** Tasks started before VM disks could be downloads export without a scratch folder. */
const GOLD_DISK_INTO_SCRATCH = 'gold-disk-into-scratch';

/** importOsLayer (ARCHITECTURE.md §6): VM disk → Windows partition → OS layer disk → verify → Deployable. */
export async function importOsLayer(input: ImportOsLayerInput): Promise<LayerVersionResult> {
  const { disks } = await diskWork();
  return withSaga(async (saga) => {
    const version = await startVersion(saga, input);
    requireLayerType(version, ['os'], 'importing an OS');
    let vmDisk: string;
    let scratch: Compensation | undefined;
    if ('diskPath' in input.source) {
      vmDisk = input.source.diskPath;
    } else {
      const { connectorId, vmId, disk = 'boot' } = input.source;
      if (patched(GOLD_DISK_INTO_SCRATCH)) {
        // A hypervisor the appliance cannot read (vSphere) downloads the disk into the task's scratch folder.
        scratch = saga.register('scratch', () => appliance.removeScratch(version.versionId));
        vmDisk = await appliance.exportVmDisk(connectorId, vmId, disk, version.versionId);
      } else {
        vmDisk = await appliance.exportVmDisk(connectorId, vmId, disk);
      }
    }
    const digest = await disks.importOsLayerDisk({
      vmDisk,
      name: version.layerName,
      version: version.version,
      out: version.diskPath,
      // A new version of the OS layer keeps its identity: app layers made on earlier versions compose with it.
      layer: { id: input.layerId, versions: (version.earlier ?? []).map((v) => v.diskPath) },
    });
    const result = await finishVersion(disks, version, digest);
    await saga.settle(scratch);
    return result;
  });
}
