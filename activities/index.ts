import { createConnectorTestActivities, type ConnectorTestDeps } from './connector-test';
import { projectRoot } from '../lib/project-root';
import { createDiagnosticsActivities, type DiagnosticsDeps } from './diagnostics';
import { createElasticSyncActivities } from './elastic-sync';
import { createLayerTransferActivities } from './layer-transfer';
import { withFailureTable } from './failure-table';
import { createIpsActivities } from './ips-phases';
import { createIscsiTargetActivities, type IscsiTargetDeps } from './iscsi-targets';
import { createOffloadActivities, type OffloadDeps } from './offload-engines';
import { createLayerDiskActivities, type LayerDiskDeps } from './layer-disks';
import { createLayerRecordActivities } from './layer-records';
import { createLocalVmStandInActivities } from './local-vm-stand-ins';
import { createPackagingCacheActivities } from './packaging-cache';
import { createPublishingActivities } from './publishing';
import { createScratchActivities } from './scratch';
import { createUploadActivities } from './uploads';
import { createVmActivities } from './vms';
import { createWorkerSettingsActivities } from './worker-settings';

export type ActivityDeps = DiagnosticsDeps &
  ConnectorTestDeps &
  IscsiTargetDeps &
  Pick<OffloadDeps, 'offload'> & {
    /** Where tasks keep intermediate files (composed images, disks before upload). */
    scratchDir: string;
    composeTaskQueue: string;
    /** Files uploaded for tasks (layer-as-code packages). */
    uploadsDir: string;
  };

/** Lamina's own folders as the worker knows them: no share it writes to may be mounted in them. */
const ownDirsOf = (deps: ActivityDeps) => [
  deps.repositoryDir,
  deps.scratchDir,
  deps.uploadsDir,
  projectRoot(),
];

/**
 * All activities of the appliance task queue, bound to their dependencies, their errors classified
 * by the failure table.
 */
export function createActivities(deps: ActivityDeps) {
  return withFailureTable({
    ...createDiagnosticsActivities(deps),
    ...createConnectorTestActivities(deps),
    ...createLayerRecordActivities(deps),
    ...createVmActivities(deps),
    ...createLocalVmStandInActivities(deps),
    ...createPackagingCacheActivities(deps),
    ...createPublishingActivities(deps),
    ...createScratchActivities(deps),
    ...createUploadActivities(deps),
    ...createIpsActivities(deps),
    ...createIscsiTargetActivities(deps),
    ...createOffloadActivities(deps),
    ...createElasticSyncActivities({ pool: deps.pool, ownDirs: ownDirsOf(deps) }),
    ...createLayerTransferActivities({
      pool: deps.pool,
      repositoryDir: deps.repositoryDir,
      ownDirs: ownDirsOf(deps),
    }),
    ...createWorkerSettingsActivities({ composeTaskQueue: deps.composeTaskQueue }),
  });
}

/** The disk-heavy activities of the compose task queue (`lamina-compose`), run with bounded concurrency. */
export function createComposeActivities(deps: LayerDiskDeps) {
  return withFailureTable(createLayerDiskActivities(deps));
}
