import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledFailure, Context } from '@temporalio/activity';
import { compose, type ComposeReport } from '../compositor/compose';
import type { OutputFormat } from '../compositor/disk-image';
import { importOsLayer } from '../compositor/import-os';
import { inspectLayer } from '../compositor/inspect';
import { buildLayer, type BuildLayerOptions } from '../compositor/layer-build';
import { finalizePackageDisk } from '../compositor/package-disk';
import { readReport, writeReport } from '../compositor/report-file';
import type { DiskFirmware } from '../domain/firmware';
import type { LayerType } from '../domain/layers';
import { boundConflicts, conflictReportPath, type BoundedConflicts } from './conflict-reports';
import { digestFile, type FileDigest } from './file-digest';
import type { HeartbeatDetails } from './heartbeat';
import { fileExists, removeLeftovers, removeWithLeftovers } from './leftovers';

/**
 * The disk-heavy activities, run by workers of the compose task queue (`lamina-compose`) with bounded
 * concurrency (ARCHITECTURE.md §1). Each writes one output file through the compositor, which makes
 * it appear only when complete; an attempt that finds the output already there returns it, and one
 * that follows a killed worker first clears the leftovers. The compositor's runs cannot be resumed
 * half-way, but they are reproducible: a rerun gives the same bytes, hence the same hash.
 */

export interface ComposeImageInput {
  os: string;
  apps: string[];
  platform?: string;
  sizeBytes: number;
  firmware: DiskFirmware;
  format: OutputFormat;
  out: string;
  /**
   * Stores the full report in the layer repository under this id (conflict-reports.ts), for any
   * worker to read. Without it the report stays next to `out`: a packaging machine's boot disk
   * needs none, and publish tasks started before reports were stored by id read it by path.
   */
  reportId?: string;
}

export interface ComposedImage extends FileDigest, BoundedConflicts {
  /** The first conflicts as one line each ("path: winner over losers"), for task results and the demo. */
  conflictSummary: string[];
  /** Without `reportId`: where the full report is, on this worker's disk. */
  reportPath?: string;
}

const SUMMARY_LINES = 20;

/** Lines longer than this (a path can be 32,767 characters) are cut: the summary travels in history. */
const SUMMARY_LINE_CHARACTERS = 1000;

export function summarise(report: ComposeReport): string[] {
  const lines = [
    ...report.conflicts.files.map((c) => `file ${c.path}: ${c.winner} over ${c.losers.join(', ')}`),
    ...report.conflicts.registry.map(
      (c) =>
        `registry ${c.key}\\${c.valueName || '(Default)'}: ${c.merged ? 'merged' : `${c.winner} over ${c.losers.join(', ')}`}`,
    ),
  ].map((line) =>
    line.length > SUMMARY_LINE_CHARACTERS ? `${line.slice(0, SUMMARY_LINE_CHARACTERS)}…` : line,
  );
  return lines.length > SUMMARY_LINES
    ? [
        ...lines.slice(0, SUMMARY_LINES),
        `… and ${lines.length - SUMMARY_LINES} more in the image's conflict report`,
      ]
    : lines;
}

/** Writes `out` with `work` unless an earlier attempt did; heartbeats meanwhile; undoes it on cancel. */
export async function produce(
  out: string,
  work: (progress: (p: HeartbeatDetails) => void, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  if (await fileExists(out)) return;
  await removeLeftovers(out);
  await fs.mkdir(path.dirname(out), { recursive: true });
  const context = Context.current();
  let last: HeartbeatDetails = { phase: 'start', done: 0, total: 1 };
  const progress = (p: HeartbeatDetails) => {
    last = p;
    context.heartbeat(last);
  };
  // Some compositor phases (registry merge, listings) report nothing; liveness must not depend on them.
  const keepAlive = setInterval(() => context.heartbeat(last), 1000);
  try {
    await work(progress, context.cancellationSignal);
  } catch (err) {
    if (!context.cancellationSignal.aborted) throw err;
  } finally {
    clearInterval(keepAlive);
  }
  if (context.cancellationSignal.aborted) {
    await removeWithLeftovers(out);
    throw new CancelledFailure('cancelled while writing ' + path.basename(out));
  }
}

export interface LayerDiskDeps {
  /** The layer repository, shared by every worker: full compose reports are stored there by id. */
  repositoryDir: string;
}

export function createLayerDiskActivities(deps: LayerDiskDeps) {
  return {
    async importOsLayerDisk(input: {
      vmDisk: string;
      name: string;
      version: string;
      out: string;
    }): Promise<FileDigest> {
      await produce(input.out, async () => {
        await importOsLayer(input);
      });
      return digestFile(input.out);
    },

    /** The workflow always chooses the creation sequence: priority must never depend on build time. */
    async buildLayerDisk(
      input: Omit<BuildLayerOptions, 'scripts' | 'creationSequence'> & { creationSequence: number },
    ): Promise<FileDigest> {
      await produce(input.out, async () => {
        await buildLayer(input);
      });
      return digestFile(input.out);
    },

    /** An empty layer disk bound to the OS layer: the packaging machine's package disk. */
    async createPackageDisk(input: {
      type: 'app' | 'platform';
      name: string;
      version: string;
      os: string;
      out: string;
    }): Promise<void> {
      await produce(input.out, async () => {
        const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'lamina-empty-'));
        try {
          await buildLayer({ ...input, from: empty, creationSequence: 0 });
        } finally {
          await fs.rm(empty, { recursive: true, force: true });
        }
      });
    },

    async finalizePackage(input: {
      packageDisk: string;
      version: string;
      creationSequence: number;
      out: string;
    }): Promise<FileDigest> {
      await produce(input.out, async () => {
        await finalizePackageDisk(input.packageDisk, input);
      });
      return digestFile(input.out);
    },

    /** Reads the finished layer disk back: it opens as a layer of the expected type and hashes as recorded. */
    async verifyLayerDisk(input: { path: string; type: LayerType; sha256: string }): Promise<void> {
      const inspection = await inspectLayer(input.path);
      if (inspection.metadata.type !== input.type) {
        throw new Error(`${input.path} holds a ${inspection.metadata.type} layer, expected ${input.type}`);
      }
      if ((await digestFile(input.path)).sha256 !== input.sha256)
        throw new Error(`${input.path} changed after it was written`);
    },

    /** Composes `out` and stores its report; a finished compose is the image and its report, both present. */
    async composeImage(input: ComposeImageInput): Promise<ComposedImage> {
      const reportPath = input.reportId
        ? conflictReportPath(deps.repositoryDir, input.reportId)
        : `${input.out}.report.json`;
      if (!(await fileExists(reportPath))) await fs.rm(input.out, { force: true });
      await produce(input.out, async (progress, signal) => {
        const report = await compose({
          signal,
          os: input.os,
          apps: input.apps,
          platform: input.platform,
          size: input.sizeBytes,
          firmware: input.firmware,
          format: input.format,
          out: input.out,
          onProgress: ({ phase, done, total }) => progress({ phase, done, total }),
        });
        await writeReport(reportPath, report);
      });
      const report = await readReport(reportPath);
      Context.current().heartbeat({ phase: 'hash', done: 0, total: 1 });
      return {
        ...(await digestFile(input.out)),
        ...boundConflicts(report.conflicts),
        conflictSummary: summarise(report),
        ...(input.reportId ? {} : { reportPath }),
      };
    },
  };
}

export type LayerDiskActivities = ReturnType<typeof createLayerDiskActivities>;
