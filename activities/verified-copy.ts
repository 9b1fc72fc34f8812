import fs from 'node:fs/promises';
import path from 'node:path';
import { CancelledFailure, Context } from '@temporalio/activity';
import { resumableCopy } from '../connectors/fileshare/resumable-copy';
import { digestFile } from './file-digest';
import { heartbeatProgress, previousResumeToken } from './heartbeat';

/**
 * Copies a layer disk inside an activity and checks the copy's SHA-256 (elastic shares, layer
 * exports and imports). The copy goes to `.<name>.partial` beside the target and resumes from the last
 * heartbeat on the next attempt (a killed worker, a disk that was full); the target only ever appears
 * whole, by rename. A target already there with the right hash is kept; one with another hash is
 * replaced. A copy whose hash is wrong is removed and the attempt fails, so the next one copies again.
 * `resumedFrom`: the byte this attempt's copy started at, when an earlier one had got that far.
 */
export async function copyVerified(
  source: string,
  target: string,
  sha256: string,
): Promise<{ copied: boolean; resumedFrom?: number }> {
  const name = path.basename(target);
  if (await fs.stat(target).catch(() => undefined)) {
    if ((await digestFile(target)).sha256 === sha256) return { copied: false };
    await fs.rm(target);
  }
  const beat = heartbeatProgress<number>(`copy ${name}`);
  const signal = Context.current().cancellationSignal;
  const { resumedFrom } = await resumableCopy(source, target, {
    partial: path.join(path.dirname(target), `.${name}.partial`),
    resumeFrom: previousResumeToken<number>() ?? 0,
    onProgress: ({ done, total }) => beat({ done, total, resume: done }),
    signal,
  }).catch((err: unknown) => {
    throw signal.aborted ? new CancelledFailure('copy stopped') : err;
  });
  const copy = await digestFile(target);
  if (copy.sha256 !== sha256) {
    await fs.rm(target, { force: true });
    beat({ phase: 'hash mismatch', done: 0, total: copy.sizeBytes, resume: 0 });
    throw new Error(`the copy ${target} has SHA-256 ${copy.sha256}, not ${sha256}`);
  }
  return { copied: true, ...(resumedFrom > 0 ? { resumedFrom } : {}) };
}
