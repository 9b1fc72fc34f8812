import { diskWork } from './activity-proxies';
import { finishVersion, requireLayerType, startVersion, type LayerVersionResult } from './layer-versions';
import { withSaga } from './saga';

export interface BuildLayerFromPackageInput {
  layerId: string;
  version: string;
  description?: string;
  osVersionId?: string;
  /** Uploaded files on the appliance (claim check): a zip or folder, a .reg file, a deletions list. */
  content: string;
  reg?: string;
  deletions?: string;
}

/** buildLayerFromPackage: layer-as-code, an app or platform layer version built from an uploaded package. */
export async function buildLayerFromPackage(input: BuildLayerFromPackageInput): Promise<LayerVersionResult> {
  const { disks } = await diskWork();
  return withSaga(async (saga) => {
    const version = await startVersion(saga, input);
    requireLayerType(version, ['app', 'platform'], 'building from a package');
    const digest = await disks.buildLayerDisk({
      type: version.layerType as 'app' | 'platform',
      name: version.layerName,
      version: version.version,
      os: version.os!.diskPath,
      from: input.content,
      reg: input.reg,
      deletions: input.deletions,
      creationSequence: version.creationSeq,
      out: version.diskPath,
    });
    return finishVersion(disks, version, digest);
  });
}
