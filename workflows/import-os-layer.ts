import { appliance, diskWork } from './activity-proxies';
import { finishVersion, requireLayerType, startVersion, type LayerVersionResult } from './layer-versions';
import { withSaga } from './saga';

export interface ImportOsLayerInput {
  layerId: string;
  version: string;
  description?: string;
  /** A VM on a connector (its boot disk is exported), or a disk file the appliance can read. */
  source: { connectorId: string; vmId: string; disk?: string } | { diskPath: string };
}

/** importOsLayer (ARCHITECTURE.md §6): VM disk → Windows partition → OS layer disk → verify → Deployable. */
export async function importOsLayer(input: ImportOsLayerInput): Promise<LayerVersionResult> {
  const { disks } = await diskWork();
  return withSaga(async (saga) => {
    const version = await startVersion(saga, input);
    requireLayerType(version, ['os'], 'importing an OS');
    const vmDisk =
      'diskPath' in input.source
        ? input.source.diskPath
        : await appliance.exportVmDisk(
            input.source.connectorId,
            input.source.vmId,
            input.source.disk ?? 'boot',
          );
    const digest = await disks.importOsLayerDisk({
      vmDisk,
      name: version.layerName,
      version: version.version,
      out: version.diskPath,
    });
    return finishVersion(disks, version, digest);
  });
}
