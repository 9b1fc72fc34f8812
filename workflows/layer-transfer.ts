import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { LayerTransferActivities, TransferFolder } from '../activities/layer-transfer';
import { withSaga } from './saga';

export type LayerTransferInput =
  | { direction: 'export'; target: TransferFolder; versionIds: string[] }
  | { direction: 'import'; source: TransferFolder };

export interface LayerTransferResult {
  direction: 'export' | 'import';
  /** The versions exported or imported, as `layer 'name' version v`, in the order they went. */
  transferred: string[];
  /** Import: versions this appliance already had. */
  skipped: string[];
  /** Copies that went on from where an interrupted attempt stopped (a dead worker, a full disk). */
  resumed: { version: string; fromByte: number }[];
}

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 30,
};

const records = proxyActivities<LayerTransferActivities>({
  startToCloseTimeout: '15 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** Copies and hash checks: heartbeating, resumed from their last heartbeat after a crash or a full disk. */
const copying = proxyActivities<
  Pick<LayerTransferActivities, 'exportLayerVersion' | 'importLayerVersion' | 'planLayerImport'>
>({
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

const label = (v: { layerName: string; version: string }) => `layer '${v.layerName}' version ${v.version}`;

/**
 * layerTransfer (ARCHITECTURE.md §6): export layer versions to a share folder (disks, then the
 * manifest), or import an export (check it all, then each version in the export's order: OS layers
 * first, then creation order). A failed or stopped transfer removes what it wrote.
 */
export async function layerTransfer(input: LayerTransferInput): Promise<LayerTransferResult> {
  const resumed: LayerTransferResult['resumed'] = [];
  const noteResumed = (version: { layerName: string; version: string }, copy: { resumedFrom?: number }) => {
    if (copy.resumedFrom) resumed.push({ version: label(version), fromByte: copy.resumedFrom });
  };
  return withSaga(async (saga) => {
    if (input.direction === 'export') {
      const versions = await records.planLayerExport(input.target, input.versionIds);
      saga.register('exported disks and manifest', () =>
        records.removeExport(
          input.target,
          versions.map((v) => v.file),
        ),
      );
      for (const version of versions)
        noteResumed(version, await copying.exportLayerVersion(input.target, version));
      await records.writeTransferManifest(
        input.target,
        versions.map(({ diskPath: _, ...entry }) => entry),
      );
      return { direction: 'export', transferred: versions.map(label), skipped: [], resumed };
    }
    const plan = await copying.planLayerImport(input.source);
    for (const layerId of plan.newLayers) {
      saga.register('imported layer', () => records.discardImportedLayer(layerId));
    }
    for (const version of plan.versions) {
      saga.register(`imported ${label(version)}`, () => records.discardImportedVersion(version));
      noteResumed(
        version,
        await copying.importLayerVersion(input.source, version, plan.newLayers.includes(version.layerId)),
      );
    }
    return { direction: 'import', transferred: plan.versions.map(label), skipped: plan.skipped, resumed };
  });
}
