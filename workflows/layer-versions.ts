import { ApplicationFailure, uuid4, workflowInfo } from '@temporalio/workflow';
import type { LayerDiskActivities } from '../activities/layer-disks';
import type { PreparedVersion } from '../activities/layer-records';
import type { ElasticFit } from '../domain/layers';
import { appliance } from './activity-proxies';
import type { Saga } from './saga';

/** What every layer-version task returns. */
export interface LayerVersionResult {
  versionId: string;
  diskPath: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * The part every layer-version workflow shares: a version record in state Creating, registered for
 * removal (with its disk) before it exists; at the end the disk is read back and the version made
 * Deployable.
 */
export async function startVersion(
  saga: Saga,
  input: {
    layerId: string;
    version: string;
    description?: string;
    osVersionId?: string;
    onPreviousVersion?: boolean;
  },
): Promise<PreparedVersion> {
  const versionId = uuid4();
  saga.register('layer version', () => appliance.discardLayerVersion(versionId, input.layerId));
  return appliance.prepareLayerVersion({ ...input, versionId, taskId: workflowInfo().workflowId });
}

/** Reads the disk back and makes the version Deployable, recording its scripts (and a capture's verdict). */
export async function finishVersion(
  disks: LayerDiskActivities,
  version: PreparedVersion,
  digest: { sizeBytes: number; sha256: string },
  elasticFit?: ElasticFit,
): Promise<LayerVersionResult> {
  const verified = await disks.verifyLayerDisk({
    path: version.diskPath,
    type: version.layerType,
    sha256: digest.sha256,
  });
  await appliance.markLayerVersionDeployable(version.versionId, {
    diskPath: version.diskPath,
    sizeBytes: digest.sizeBytes,
    sha256: digest.sha256,
    // Tasks recorded before disks were read back for their scripts have no answer here.
    ...(verified ? { scripts: verified.scripts } : {}),
    ...(elasticFit ? { elasticFit } : {}),
    ...(verified?.volumeBytes ? { volumeBytes: verified.volumeBytes } : {}),
  });
  return { versionId: version.versionId, diskPath: version.diskPath, ...digest };
}

export function requireLayerType(
  version: PreparedVersion,
  allowed: PreparedVersion['layerType'][],
  task: string,
): void {
  if (!allowed.includes(version.layerType)) {
    throw ApplicationFailure.nonRetryable(
      `${task} makes ${allowed.join(' or ')} layers, not ${version.layerType} layers`,
      'WrongLayerType',
    );
  }
}
