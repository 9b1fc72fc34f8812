import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { ComposeReport } from '../compositor/compose';
import { writeReport } from '../compositor/report-file';
import type { SecretBox } from '../config/secret-box';
import { ENGINE_CA_CERTIFICATE } from '../connectors/azure/azure-ce-host';
import type { EngineDestination } from '../connectors/ce-host';
import type { Connector } from '../connectors/connector';
import {
  deleteEngine,
  getEngine,
  insertEngine,
  markEngineRegistered,
  offloadCompositingOf,
} from '../db/compositing-engines';
import { deriveChapCredentials } from '../iscsi';
import { boundConflicts, conflictReportPath, type BoundedConflicts } from './conflict-reports';
import { withConnector, type ConnectorAccessDeps } from './connector-access';
import { summarise } from './layer-disks';
import { removeWithLeftovers } from './leftovers';

/**
 * The appliance's side of offloadCompose (ARCHITECTURE.md §6): Compositing Engines made on the
 * connector's platform for one compose, their one-time registration, and what their compose leaves
 * for the appliance (the report, or a partial disk to remove).
 *
 * An engine is launched with a one-time token (stored sealed, never in history) and the CHAP secret of
 * its task's target; it registers by signalling its task with an HMAC of its id under the token
 * (`registrationProof`), which `admitCompositingEngine` checks once, before the token expires.
 */
export interface OffloadDeps extends ConnectorAccessDeps {
  secrets: SecretBox;
  /** The key the targets' CHAP secrets derive from (iscsi/chap.ts). */
  iscsiChapKey: Buffer;
  repositoryDir: string;
  offload: {
    /** What every engine's environment starts with: where Temporal is, and the payload codec's keys. */
    engineEnvironment: Record<string, string>;
    /** The appliance's address as engines reach it (its iSCSI portal and Temporal). */
    engineAddress: string;
    /** The host's network namespace process engines run in (LAMINA_CE_NETNS); unset: the host's own. */
    networkNamespace?: string;
    /** How long an engine has to register before the task gives up on it. */
    registrationSeconds: number;
  };
}

/** The engine's registration proof: HMAC-SHA256 of its id under its one-time token. */
export function registrationProof(token: string, engineId: string): string {
  return createHmac('sha256', token).update(`lamina-compositing-engine:${engineId}`).digest('hex');
}

/** What `lamina ce` reads from its environment (cli/commands/ce.ts). */
export const ENGINE_ENVIRONMENT = {
  id: 'LAMINA_CE_ID',
  task: 'LAMINA_CE_TASK',
  token: 'LAMINA_CE_TOKEN',
  initiator: 'LAMINA_CE_INITIATOR',
  chapSecret: 'LAMINA_CE_CHAP_SECRET',
  targetChapSecret: 'LAMINA_CE_TARGET_CHAP_SECRET',
  /** The connector's CA (PEM), which the engine's blob clients trust: set by the Azure engine host. */
  caCertificate: ENGINE_CA_CERTIFICATE,
} as const;

export interface CreateEngineInput {
  connectorId: string;
  engineId: string;
  /** The offloadCompose task the engine signals when it registers. */
  taskId: string;
  /**
   * The task's iSCSI target, when the engine reads layers from one: its CHAP secrets are the engine's.
   * An engine that reads no layers (an Image Portability prepare) is launched with no iSCSI credentials.
   */
  targetName?: string;
  initiatorName?: string;
  mutualChap?: boolean;
}

function engineHost(connector: Connector) {
  if (!connector.ce)
    throw ApplicationFailure.nonRetryable(
      `a ${connector.type} connector cannot run Compositing Engines: turn Offload Compositing off`,
      'ConnectorNotCapable',
    );
  return connector.ce;
}

export function createOffloadActivities(deps: OffloadDeps) {
  return {
    /** Whether the connector composes on its platform (the connector's Offload Compositing setting). */
    async offloadCompositingOf(connectorId: string): Promise<boolean> {
      return offloadCompositingOf(deps.pool, connectorId);
    },

    /**
     * Launches the engine with its one-time token; a retry launches it with the same token (or finds it
     * running). Answers how long it has to register.
     */
    async createCompositingEngine(input: CreateEngineInput): Promise<{ registrationSeconds: number }> {
      const { registrationSeconds } = deps.offload;
      await insertEngine(deps.pool, {
        id: input.engineId,
        taskId: input.taskId,
        connectorId: input.connectorId,
        token: deps.secrets.seal(randomBytes(32).toString('base64url')),
        expiresAt: new Date(Date.now() + registrationSeconds * 1000),
      });
      const record = await getEngine(deps.pool, input.engineId);
      if (!record) throw new Error(`engine ${input.engineId} vanished as it was recorded`);
      const iscsi = input.targetName && input.initiatorName ? input.targetName : undefined;
      const chap = iscsi ? deriveChapCredentials(deps.iscsiChapKey, iscsi, 'initiator') : undefined;
      const targetChap =
        iscsi && input.mutualChap ? deriveChapCredentials(deps.iscsiChapKey, iscsi, 'target') : undefined;
      const E = ENGINE_ENVIRONMENT;
      return withConnector(deps, input.connectorId, async (connector) => {
        const host = engineHost(connector);
        await host.createEngine({
          id: input.engineId,
          name: `lamina-ce-${input.engineId.slice(0, 8)}`,
          networkNamespace: deps.offload.networkNamespace,
          environment: {
            ...deps.offload.engineEnvironment,
            [E.id]: input.engineId,
            [E.task]: input.taskId,
            [E.token]: deps.secrets.open(record.token),
            ...(chap ? { [E.initiator]: input.initiatorName, [E.chapSecret]: chap.secret } : {}),
            ...(targetChap ? { [E.targetChapSecret]: targetChap.secret } : {}),
          },
        });
        return { registrationSeconds };
      });
    },

    /** Where the connector's engines write the image that becomes stored disk `diskName`. */
    async engineDestination(connectorId: string, diskName: string): Promise<EngineDestination> {
      return withConnector(deps, connectorId, async (connector) =>
        engineHost(connector).destinationOf(diskName, connectorId),
      );
    },

    /** The portal engines log in to: the target's port at the appliance's address as engines see it. */
    async enginePortal(port: number): Promise<string> {
      return `${deps.offload.engineAddress}:${port}`;
    },

    /** Checks an engine's registration: its proof, once, before its token expires. */
    async admitCompositingEngine(input: {
      engineId: string;
      proof: string;
      /** Absent for an engine launched without iSCSI credentials. */
      initiatorName?: string;
    }): Promise<void> {
      const refuse = (why: string) =>
        ApplicationFailure.nonRetryable(
          `Compositing Engine ${input.engineId} refused: ${why}`,
          'EngineRefused',
        );
      const record = await getEngine(deps.pool, input.engineId);
      if (!record) throw refuse('no such engine was made for this task');
      const expected = Buffer.from(registrationProof(deps.secrets.open(record.token), input.engineId), 'hex');
      const given = Buffer.from(input.proof, 'hex');
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        throw refuse('its registration token is not the one it was launched with');
      if (!(await markEngineRegistered(deps.pool, input.engineId, input.initiatorName ?? null)))
        throw refuse('its one-time registration token has expired or was used already');
    },

    /** Stops and removes the engine (VM or process) and its record; one already gone is fine. */
    async removeCompositingEngine(input: { connectorId: string; engineId: string }): Promise<void> {
      await withConnector(deps, input.connectorId, (connector) =>
        engineHost(connector).destroyEngine(input.engineId),
      );
      await deleteEngine(deps.pool, input.engineId);
    },

    /** Removes what an engine wrote to `destination`, finished or not (a stopped or failed task's disk). */
    async removeEngineOutput(destination: EngineDestination): Promise<void> {
      if (destination.kind === 'file') return removeWithLeftovers(destination.path);
      await withConnector(deps, destination.connectorId, async (connector) => {
        const host = engineHost(connector);
        if (!host.removeOutput)
          throw new Error(`a ${connector.type} connector's engines do not write to a datastore`);
        await host.removeOutput(destination);
      });
    },

    /**
     * Stores the engine's compose report in the repository under `reportId`, as a local compose does,
     * and answers what the task result carries of it.
     */
    async storeEngineReport(input: {
      reportId: string;
      report: ComposeReport;
    }): Promise<BoundedConflicts & { conflictSummary: string[]; scripts: number }> {
      await writeReport(conflictReportPath(deps.repositoryDir, input.reportId), input.report);
      return {
        ...boundConflicts(input.report.conflicts),
        conflictSummary: summarise(input.report),
        scripts: (input.report.scripts ?? []).length,
      };
    },
  };
}

export type OffloadActivities = ReturnType<typeof createOffloadActivities>;
