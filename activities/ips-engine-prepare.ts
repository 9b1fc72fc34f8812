import fs from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { prepareImage, type PrepareReport } from '../compositor/prepare/prepare-image';
import type { PrepareOptions } from '../compositor/prepare/prepare-options';
import { digestFile, type FileDigest } from './file-digest';

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
 * prepared copy back there, by the paths the appliance resolved (the local connector's engines run on
 * the appliance, where the shares are mounted).
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
  };
}

export type EnginePrepareActivities = ReturnType<typeof createEnginePrepareActivities>;
