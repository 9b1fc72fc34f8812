import { ApplicationFailure, uuid4, workflowInfo } from '@temporalio/workflow';
import type { LayerDiskActivities } from '../activities/layer-disks';
import type { PreparedVersion } from '../activities/layer-records';
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
  input: { layerId: string; version: string; description?: string; osVersionId?: string },
): Promise<PreparedVersion> {
  const versionId = uuid4();
  saga.register('layer version', () => appliance.discardLayerVersion(versionId, input.layerId));
  return appliance.prepareLayerVersion({ ...input, versionId, taskId: workflowInfo().workflowId });
}

export async function finishVersion(
  disks: LayerDiskActivities,
  version: PreparedVersion,
  digest: { sizeBytes: number; sha256: string },
): Promise<LayerVersionResult> {
  await disks.verifyLayerDisk({ path: version.diskPath, type: version.layerType, sha256: digest.sha256 });
  await appliance.markLayerVersionDeployable(version.versionId, { diskPath: version.diskPath, ...digest });
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
