import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineSignal,
  proxyActivities,
  type RetryPolicy,
  setHandler,
  TimeoutFailure,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { IscsiTargetActivities } from '../activities/iscsi-targets';
import type { ComposedImage } from '../activities/layer-disks';
import type { EngineActivities } from '../activities/offload-engine-compose';
import type { CreateEngineInput, OffloadActivities } from '../activities/offload-engines';
import type { OutputFormat } from '../compositor/disk-image';
import { engineTaskQueue } from '../domain/compositing-engines';
import type { DiskFirmware } from '../domain/firmware';
import type { ImageSettings } from '../domain/image-settings';
import { withSaga } from './saga';

/** What a Compositing Engine sends its task when it is up (cli/commands/ce.ts). */
export interface EngineRegistration {
  engineId: string;
  /** HMAC of the engine's id under its one-time token (activities/offload-engines.ts). */
  proof: string;
  /** Absent for an engine launched without iSCSI credentials (a prepare reads no layers). */
  initiatorName?: string;
}

export const engineRegistered = defineSignal<[EngineRegistration]>('engineRegistered');

export interface OffloadComposeInput {
  connectorId: string;
  /** Layer version ids: the OS layer's, then apps and platform (priority comes from the layers). */
  os: string;
  apps: string[];
  platform?: string;
  sizeBytes: number;
  firmware: DiskFirmware;
  format: OutputFormat;
  withoutScripts?: boolean;
  /** The template's elastic layering and user-layer settings for the image's hives. */
  settings?: ImageSettings;
  /** The connector's stored disk the image becomes (VmHost's name for it). */
  diskName: string;
  /** Stores the compose report in the repository under this id. */
  reportId: string;
  /** Engines tried before the task gives up: one that dies mid-compose is replaced by a new one. */
  maxEngines?: number;
}

const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '30 seconds',
  maximumAttempts: 30,
};

/** The appliance's side of offloading (also asked by publishImage whether to offload at all). */
export const offloading = proxyActivities<
  OffloadActivities & Pick<IscsiTargetActivities, 'removeIscsiTarget'>
>({
  startToCloseTimeout: '5 minutes',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * Launches an engine, waits for it to register (its signal lands in the caller's `registered`), and
 * admits it: afterwards its task queue takes the caller's activities. One that never registers fails
 * the task after the connector's registration time; the caller's saga has its removal registered.
 */
export async function launchAdmittedEngine(
  engine: CreateEngineInput,
  registered: () => EngineRegistration | undefined,
): Promise<{ registrationSeconds: number }> {
  const { registrationSeconds } = await offloading.createCompositingEngine(engine);
  if (!(await condition(() => registered() !== undefined, registrationSeconds * 1000)))
    throw ApplicationFailure.nonRetryable(
      `Compositing Engine ${engine.engineId} did not register within ${registrationSeconds} s; it was removed`,
      'EngineNeverRegistered',
    );
  const { proof, initiatorName } = registered()!;
  await offloading.admitCompositingEngine({ engineId: engine.engineId, proof, initiatorName });
  return { registrationSeconds };
}

/** Making the target converts layers the appliance has not exported yet: it heartbeats. */
const exporting = proxyActivities<Pick<IscsiTargetActivities, 'createIscsiTarget'>>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** The initiator name of the task's engines: the target's ACL admits this one name only. */
function initiatorNameFor(targetName: string): string {
  return `iqn.2024-01.org.lamina-appliance.ce:${targetName}`;
}

/** The engine's worker died or never picked the compose up: another engine can do it. */
function engineLost(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure;
}

export interface OffloadedImage extends ComposedImage {
  /** The engine whose compose made the image, and how many engines the task launched (a lost one is replaced). */
  compositedBy: { engineId: string; enginesLaunched: number };
}

/**
 * offloadCompose (ARCHITECTURE.md §6): an iSCSI target for the task's layers (CHAP, one-time) → a
 * Compositing Engine on the connector's platform → it registers → it composes from the target straight
 * into the platform's storage → engine and target removed, whatever happens. An engine that dies
 * mid-compose is replaced (the compose is reproducible: same layers, same bytes); one that never
 * registers fails the task after the connector's registration time.
 */
export async function offloadCompose(input: OffloadComposeInput): Promise<OffloadedImage> {
  const taskId = workflowInfo().workflowId;
  const targetName = `offload-${uuid4()}`;
  const initiatorName = initiatorNameFor(targetName);
  let awaited: string | undefined;
  let registration: EngineRegistration | undefined;
  setHandler(engineRegistered, (signalled) => {
    // A replaced engine that comes back late is not the one awaited.
    if (signalled.engineId === awaited && !registration) registration = signalled;
  });

  return withSaga(async (saga) => {
    const layers = [input.os, ...input.apps, ...(input.platform ? [input.platform] : [])];
    const target = saga.register('iSCSI target', () => offloading.removeIscsiTarget({ targetName }));
    const served = await exporting.createIscsiTarget({ targetName, layerVersionIds: layers, initiatorName });
    const portal = await offloading.enginePortal(served.portal.port);

    const destination = await offloading.engineDestination(input.connectorId, input.diskName);
    // What an engine wrote goes if the task does not end with the image (engines are removed first).
    const output = saga.register('image written by an engine', () =>
      offloading.removeEngineOutput(destination),
    );
    for (let engines = 1; ; engines++) {
      const engineId = uuid4();
      awaited = engineId;
      registration = undefined;
      const engine = saga.register('Compositing Engine', () =>
        offloading.removeCompositingEngine({ connectorId: input.connectorId, engineId }),
      );
      const { registrationSeconds } = await launchAdmittedEngine(
        { connectorId: input.connectorId, engineId, taskId, targetName, initiatorName },
        () => registration,
      );

      const onEngine = proxyActivities<EngineActivities>({
        taskQueue: engineTaskQueue(engineId),
        scheduleToStartTimeout: `${registrationSeconds} seconds`,
        startToCloseTimeout: '6 hours',
        heartbeatTimeout: '10 seconds',
        cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        // A retry is a new engine (below): this one's queue has no other worker.
        retry: { maximumAttempts: 1 },
      });
      let composed;
      try {
        composed = await onEngine.composeFromTarget({
          target: {
            portal,
            iqn: served.iqn,
            chapUser: served.chapUser,
            ...(served.targetChapUser ? { targetChapUser: served.targetChapUser } : {}),
          },
          os: 1,
          apps: input.apps.map((_, index) => index + 2),
          ...(input.platform ? { platform: input.apps.length + 2 } : {}),
          sizeBytes: input.sizeBytes,
          firmware: input.firmware,
          format: input.format,
          withoutScripts: input.withoutScripts,
          ...(input.settings ? { settings: input.settings } : {}),
          destination,
        });
      } catch (err) {
        if (!engineLost(err) || engines >= (input.maxEngines ?? 3)) throw err;
        await saga.settle(engine);
        continue;
      }
      await saga.settle(engine);
      await saga.settle(target);
      const stored = await offloading.storeEngineReport({
        reportId: input.reportId,
        report: composed.report,
      });
      // The image is the task's result now: the caller decides whether it stays.
      saga.keep(output);
      return {
        sha256: composed.sha256,
        sizeBytes: composed.sizeBytes,
        ...stored,
        compositedBy: { engineId, enginesLaunched: engines },
      };
    }
  });
}
