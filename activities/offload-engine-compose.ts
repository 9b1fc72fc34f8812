import fs from 'node:fs/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import path from 'node:path';
import { compose, type ComposeReport } from '../compositor/compose';
import type { OutputFormat } from '../compositor/disk-image';
import type { IscsiLun } from '../compositor/iscsi-lun';
import type { EngineDestination } from '../connectors/ce-host';
import { uploadSparseImage } from '../connectors/vsphere/ce-host/sparse-image-upload';
import type { DiskFirmware } from '../domain/firmware';
import type { ImageSettings } from '../domain/image-settings';
import { digestFile, type FileDigest } from './file-digest';
import { produce } from './layer-disks';
import { removeWithLeftovers } from './leftovers';

/**
 * The one activity a Compositing Engine runs (worker/ce-worker.ts, task queue `ce-<id>`): compose the
 * task's layers, read over iSCSI from the appliance's target, straight into the platform's storage.
 * The input names the target and its LUNs; the CHAP secret is the engine's own, given at its launch, so
 * it never passes through Temporal.
 */
export interface EngineComposeInput {
  target: {
    /** `host:port` as the engine reaches the appliance. */
    portal: string;
    iqn: string;
    chapUser: string;
    /** Mutual CHAP: the user the target answers as. */
    targetChapUser?: string;
  };
  /** LUN numbers of the layers; priority comes from the layers themselves, as in every compose. */
  os: number;
  apps: number[];
  platform?: number;
  sizeBytes: number;
  firmware: DiskFirmware;
  format: OutputFormat;
  withoutScripts?: boolean;
  /** The template's elastic layering and user-layer settings for the image's hives. */
  settings?: ImageSettings;
  destination: EngineDestination;
}

export interface EngineComposeResult extends FileDigest {
  /** The whole report: the appliance stores it by id (the engine cannot reach the repository). */
  report: ComposeReport;
}

export interface EngineDeps {
  /** This engine's initiator name (the only one the target's ACL admits) and CHAP secret; absent for an
   * engine launched to prepare, which reads no layers. */
  initiatorName?: string;
  chapSecret?: string;
  targetChapSecret?: string;
  /** Seconds a login or read may take before the compose fails instead of hanging. */
  iscsiTimeoutSeconds?: number;
  /** The engine's own folder, removed with it. */
  workDir: string;
  /** A vCenter session of the engine's own (ENGINE_DATASTORE_SESSION): how it writes a datastore. */
  datastoreSession?: string;
}

export function createEngineActivities(deps: EngineDeps) {
  return {
    async composeFromTarget(input: EngineComposeInput): Promise<EngineComposeResult> {
      const { initiatorName, chapSecret } = deps;
      if (!initiatorName || !chapSecret)
        throw ApplicationFailure.nonRetryable(
          "this engine was launched without iSCSI credentials: it cannot read the task's layers",
          'EngineNotCapable',
        );
      const lun = (number: number): IscsiLun => ({
        portal: input.target.portal,
        iqn: input.target.iqn,
        lun: number,
        initiator: initiatorName,
        chap: { user: input.target.chapUser, secret: chapSecret },
        ...(input.target.targetChapUser && deps.targetChapSecret
          ? { targetChap: { user: input.target.targetChapUser, secret: deps.targetChapSecret } }
          : {}),
        timeoutSeconds: deps.iscsiTimeoutSeconds,
      });
      const { destination } = input;
      if (destination.kind === 'datastore' && !deps.datastoreSession)
        throw new Error('this engine was launched without a vCenter session: it cannot write the datastore');
      // A datastore's disk is composed on the engine's own disk first, as the sparse file that travels.
      const out = destination.kind === 'file' ? destination.path : path.join(deps.workDir, 'image.vmdk');
      // Kept in the engine's own folder, which goes with the engine: a retry after the compose finished
      // answers from it instead of composing again.
      const reportFile = path.join(deps.workDir, 'report.json');
      let report = await fs
        .readFile(reportFile, 'utf8')
        .then((text) => JSON.parse(text) as ComposeReport)
        .catch(() => undefined);
      if (!report) await removeWithLeftovers(out);
      // A refused login or a missing LUN is a ComposeError, which the failure table makes final: the
      // task fails at once, naming what was refused, instead of logging in again and again.
      await produce(out, async (progress, signal) => {
        report = await compose({
          signal,
          os: lun(input.os),
          apps: input.apps.map(lun),
          platform: input.platform === undefined ? undefined : lun(input.platform),
          size: input.sizeBytes,
          firmware: input.firmware,
          format: input.format,
          out,
          withoutScripts: input.withoutScripts,
          settings: input.settings,
          onProgress: ({ phase, done, total }) => progress({ phase, done, total }),
        });
        await fs.writeFile(reportFile, JSON.stringify(report));
      });
      const digest = await digestFile(out);
      if (destination.kind === 'datastore') {
        await uploadSparseImage(destination, deps.datastoreSession!, out, {
          signal: Context.current().cancellationSignal,
          onProgress: ({ done, total }) => Context.current().heartbeat({ phase: 'upload', done, total }),
        });
      }
      return { ...digest, report: report! };
    },
  };
}

export type EngineActivities = ReturnType<typeof createEngineActivities>;
