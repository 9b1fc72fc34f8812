import { patched } from '@temporalio/workflow';
import { appliance, diskWork } from './activity-proxies';
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
  /** A zip or folder of first-start scripts, run in the images the layer is composed into. */
  scripts?: string;
}

/** Tasks started before uploads were removed once used leave theirs to expire. */
const REMOVE_USED_UPLOADS = 'remove-used-uploads';

/** buildLayerFromPackage: layer-as-code, an app or platform layer version built from an uploaded package. */
export async function buildLayerFromPackage(input: BuildLayerFromPackageInput): Promise<LayerVersionResult> {
  const { disks } = await diskWork();
  const result = await withSaga(async (saga) => {
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
      scripts: input.scripts,
      creationSequence: version.creationSeq,
      out: version.diskPath,
    });
    // Tasks started before built layers were scanned have no verdict in their result: none is recorded.
    return finishVersion(disks, version, digest, digest.elasticFit);
  });
  // Only on success: a failed task keeps its uploads, so a retry (a new run with the same input) finds them.
  if (patched(REMOVE_USED_UPLOADS)) {
    await appliance.removeUploads(
      [input.content, input.reg, input.deletions, input.scripts].filter((f) => f !== undefined),
    );
  }
  return result;
}
