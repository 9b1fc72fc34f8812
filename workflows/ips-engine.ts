import {
  ActivityCancellationType,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { EnginePrepareActivities } from '../activities/ips-engine-prepare';
import type {
  AzureBlobResult,
  PrepareOptions,
  PrepareReport,
  ShareFileResult,
} from '../activities/ips-phases';
import { engineTaskQueue } from '../domain/compositing-engines';
import { ipsQuick } from './ips-activity-proxies';
import {
  engineRegistered,
  launchAdmittedEngine,
  offloading,
  type EngineRegistration,
} from './offload-compose';
import type { Saga } from './saga';

/**
 * Prepare in a Compositing Engine on the target (ARCHITECTURE.md §6), the way offloadCompose runs its
 * compose: an engine made for this prepare on the target connector's platform, registered with its
 * one-time token, given the prepare on its own task queue, and removed whatever happens (the saga
 * removes it on a failure or stop, before the partial copy). The engine reads the disk where the target
 * keeps it and writes the prepared copy beside it; the appliance only resolves where that is.
 */
export async function prepareOnEngine(
  saga: Saga,
  input: {
    targetConnectorId: string;
    source: { shareConnectorId: string; fileName: string };
    output: string;
    options: PrepareOptions;
    timeoutMinutes: number;
  },
): Promise<ShareFileResult & PrepareReport & { engineId: string }> {
  const paths = await ipsQuick.ipsEnginePreparePaths({ source: input.source, output: input.output });
  const { engineId, onEngine, engine } = await admittedPrepareEngine(
    saga,
    input.targetConnectorId,
    input.timeoutMinutes,
  );
  const { sha256, sizeBytes, steps } = await onEngine.prepareOnEngine({ ...paths, options: input.options });
  await saga.settle(engine);
  const file = { shareConnectorId: input.source.shareConnectorId, fileName: input.output };
  const result = await ipsQuick.ipsShareResult({ file, digest: { sha256, sizeBytes } });
  return { ...result, steps, engineId };
}

/**
 * Prepare in a Compositing Engine in Azure (reference/image-portability.txt: Export → Upload → Prepare
 * in a CE on the target → Publish): the engine VM is made through Resource Manager, reads the uploaded
 * page blob and writes the prepared page blob `outputBlob` with the blob-scoped SAS tokens the appliance
 * seals for it, and is removed whatever happens; the caller's saga removes the prepared blob on a
 * failure or stop (registered before anything is made).
 */
export async function prepareBlobOnEngine(
  saga: Saga,
  input: {
    azureConnectorId: string;
    sourceBlob: string;
    outputBlob: string;
    options: PrepareOptions;
    timeoutMinutes: number;
  },
): Promise<AzureBlobResult & PrepareReport & { engineId: string; sourceBlob: string }> {
  const { engineId, onEngine, engine } = await admittedPrepareEngine(
    saga,
    input.azureConnectorId,
    input.timeoutMinutes,
  );
  const access = await ipsQuick.ipsEngineBlobAccess({
    azureConnectorId: input.azureConnectorId,
    engineId,
    sourceBlob: input.sourceBlob,
    outputBlob: input.outputBlob,
    minutes: input.timeoutMinutes,
  });
  const prepared = await onEngine.prepareBlobOnEngine({ ...access, options: input.options });
  await saga.settle(engine);
  return {
    blobName: input.outputBlob,
    url: access.output,
    blobSize: prepared.blobSize,
    sent: prepared.sent,
    steps: prepared.steps,
    engineId,
    sourceBlob: input.sourceBlob,
  };
}

/**
 * An engine made for one prepare on the connector's platform, registered with its one-time token and
 * admitted; its removal is registered in the saga before it is made. Answers the engine's own queue.
 */
async function admittedPrepareEngine(saga: Saga, connectorId: string, timeoutMinutes: number) {
  const engineId = uuid4();
  let registration: EngineRegistration | undefined;
  setHandler(engineRegistered, (signalled) => {
    if (signalled.engineId === engineId && !registration) registration = signalled;
  });
  const engine = saga.register('Compositing Engine', () =>
    offloading.removeCompositingEngine({ connectorId, engineId }),
  );
  // A prepare reads no layers: the engine gets no iSCSI target and is launched with no CHAP secret.
  const { registrationSeconds } = await launchAdmittedEngine(
    { connectorId, engineId, taskId: workflowInfo().workflowId },
    () => registration,
  );
  const onEngine = proxyActivities<EnginePrepareActivities>({
    taskQueue: engineTaskQueue(engineId),
    scheduleToStartTimeout: `${registrationSeconds} seconds`,
    startToCloseTimeout: `${timeoutMinutes} minutes`,
    heartbeatTimeout: '30 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // This engine's queue has no other worker: an engine that dies fails the prepare, which the saga
    // then removes with what it wrote.
    retry: { maximumAttempts: 1 },
  });
  return { engineId, onEngine, engine };
}
