import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { prepareImage, type PrepareReport } from '../compositor/prepare/prepare-image';
import type { PrepareOptions } from '../compositor/prepare/prepare-options';
import { uploadVhdToPageBlob } from '../connectors/azure/page-blob-upload';
import { digestFile, type FileDigest } from './file-digest';
import { downloadPageBlob, openAsEngine, pageBlobWithSas, untrustedCertificate } from './ips-engine-blobs';
import { ENGINE_ENVIRONMENT } from './offload-engines';

/**
 * Image Portability's prepare of one disk file into a prepared copy (compositor/prepare), wherever it
 * runs: on the appliance (ipsPrepareDisk) or in a Compositing Engine on the target (prepareOnEngine).
 * Heartbeats the step it is in; the copy appears only when complete, and a retry starts again from the
 * untouched source.
 */
export async function prepareFile(
  source: string,
  output: string,
  options: PrepareOptions,
): Promise<FileDigest & PrepareReport> {
  const context = Context.current();
  let phase = 'inspect';
  const keepAlive = setInterval(() => context.heartbeat({ phase, done: 0, total: 1 }), 1000);
  try {
    await fs.rm(output, { force: true });
    const report = await prepareImage(source, output, options, (p) => (phase = p));
    return { ...(await digestFile(output)), ...report };
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * The prepare a Compositing Engine runs (worker/ce-worker.ts, task queue `ce-<id>`) when the target
 * connector has Offload Compositing: the engine reads the disk from the target's storage and writes the
 * prepared copy back there. On the local connector and vSphere that is the share, by the paths the
 * appliance resolved: the local connector's engines run on the appliance, where the shares are mounted;
 * a vSphere engine VM mounts the file-share connector's share (its `path`, SMB) at the same mount point,
 * as the engine template's boot unit sets up, with the access the share grants the engine's network
 * (Lamina hands an engine no share credential). On Azure it is the page blobs (prepareBlobOnEngine).
 */
export function createEnginePrepareActivities() {
  return {
    async prepareOnEngine(input: {
      source: string;
      output: string;
      options: PrepareOptions;
    }): Promise<FileDigest & PrepareReport> {
      return prepareFile(input.source, input.output, input.options);
    },

    /**
     * Azure: the uploaded page blob → a prepared page blob, in the engine (reference: Export → Upload →
     * Prepare in a CE on the target → Publish). The engine reads the source blob's written pages into
     * its own disk, prepares them as on the appliance, and writes the prepared disk as a new fixed-VHD
     * page blob, only its non-zero pages, with the blob-scoped SAS tokens the appliance sealed under this
     * engine's one-time token (activities/ips-engine-blobs.ts), trusting the connector's CA when its
     * launch environment carries one (LAMINA_CE_CA_CERTIFICATE). A storage endpoint whose certificate
     * it does not trust fails the prepare at once, naming that. Its work folder goes with it.
     */
    async prepareBlobOnEngine(input: {
      source: string;
      output: string;
      sealed: string;
      options: PrepareOptions;
    }): Promise<PrepareReport & { blobSize: number; sent: number; read: number }> {
      const token = process.env[ENGINE_ENVIRONMENT.token];
      if (!token)
        throw ApplicationFailure.nonRetryable(
          `${ENGINE_ENVIRONMENT.token} is not set: only a Compositing Engine opens its blob tokens`,
          'EngineRefused',
        );
      const tokens = openAsEngine(token, input.sealed);
      const ca = process.env[ENGINE_ENVIRONMENT.caCertificate] || undefined;
      const context = Context.current();
      const signal = context.cancellationSignal;
      let progress = { phase: 'download', done: 0, total: 1 };
      const keepAlive = setInterval(() => context.heartbeat(progress), 1000);
      const work = await fs.mkdtemp(path.join(os.tmpdir(), 'lamina-ips-prepare-'));
      try {
        const source = path.join(work, 'source.vhd');
        const read = await downloadPageBlob(pageBlobWithSas(input.source, tokens.source, ca), source, {
          signal,
          onProgress: (done, total) => (progress = { phase: 'download', done, total }),
        });
        const prepared = path.join(work, 'prepared.vhdx');
        const { steps } = await prepareFile(source, prepared, input.options);
        await fs.rm(source, { force: true });
        const uploaded = await uploadVhdToPageBlob(
          pageBlobWithSas(input.output, tokens.output, ca),
          prepared,
          {
            fresh: true,
            signal,
            onProgress: ({ done, total }) => (progress = { phase: 'upload', done, total }),
          },
        );
        return { steps, blobSize: uploaded.blobSize, sent: uploaded.sent, read };
      } catch (err) {
        if (signal.aborted) throw new CancelledFailure('prepare stopped');
        const untrusted = untrustedCertificate(err, input.source, Boolean(ca));
        if (untrusted) throw ApplicationFailure.nonRetryable(untrusted, 'EngineCertificateUntrusted');
        throw err;
      } finally {
        clearInterval(keepAlive);
        await fs.rm(work, { recursive: true, force: true });
      }
    },
  };
}

export type EnginePrepareActivities = ReturnType<typeof createEnginePrepareActivities>;
