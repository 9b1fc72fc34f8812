import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledFailure, Context } from '@temporalio/activity';
import { captureLayer, type CaptureReport } from '../compositor/capture';
import { assessElasticFit } from '../compositor/capture/elastic-fit';
import { compose, type ComposeReport } from '../compositor/compose';
import type { OutputFormat } from '../compositor/disk-image';
import { importOsLayer, osLayerLineage } from '../compositor/import-os';
import { MiB, planDisk, windowsPartition } from '../compositor/disk-layout';
import { inspectLayer } from '../compositor/inspect';
import { withLayer } from '../compositor/layer-disk';
import { buildLayer, type BuildLayerOptions } from '../compositor/layer-build';
import { finalizePackageDisk } from '../compositor/package-disk';
import { readReport, writeReport } from '../compositor/report-file';
import { layerScriptPaths } from '../compositor/scripts-runner';
import type { DiskFirmware } from '../domain/firmware';
import type { ImageSettings } from '../domain/image-settings';
import type { ElasticFit, LayerType } from '../domain/layers';
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
  /** A packaging machine's boot disk: no first-start scripts or runner (compose's `withoutScripts`). */
  withoutScripts?: boolean;
  /** The template's elastic layering and user-layer settings for the image's hives (compose's `settings`). */
  settings?: ImageSettings;
  /** False: the image is not read back to hash it (its caller hashes it as it copies it). */
  hash?: boolean;
}

/** A composed image not hashed by its compose (`hash: false`): its copy to a share hashes it. */
export interface UnhashedImage extends BoundedConflicts {
  /** The first conflicts as one line each ("path: winner over losers"), for task results and the demo. */
  conflictSummary: string[];
  /** Without `reportId`: where the full report is, on this worker's disk. */
  reportPath?: string;
  /** How many layer scripts the image's first-start runner will run (0: the image has no runner). */
  scripts: number;
}

export interface ComposedImage extends UnhashedImage, FileDigest {}

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

/** What a finished layer disk holds that its version's record keeps. */
export interface VerifiedLayer {
  /** Paths under `\.lamina\scripts`: the layer's first-start scripts. */
  scripts: string[];
  /** OS layers: the Windows volume's size (the layer disk's partition). */
  volumeBytes?: number;
}

export interface CapturedVersion extends FileDigest {
  elasticFit: ElasticFit;
  /**
   * The capture report's counts (the full report stays with the task's scratch folder), and
   * `childOfBaseBytes`: the bytes of the volume the machine's disk held over its base, the only ones
   * inspected (its block map, the disk being a child of the base); null when it was a copy.
   */
  captured: {
    files: number;
    bytes: number;
    deletions: number;
    excluded: number;
    childOfBaseBytes: number | null;
  };
}

/**
 * Runs `work`, heartbeating every second: reading a layer disk back reports no progress of its own,
 * and on a busy machine takes longer than the heartbeat timeout.
 */
async function heartbeating<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const beat = () => context.heartbeat({ phase, done: 0, total: 1 });
  beat();
  const timer = setInterval(beat, 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export interface LayerDiskDeps {
  /** The layer repository, shared by every worker: full compose reports are stored there by id. */
  repositoryDir: string;
}

export function createLayerDiskActivities(deps: LayerDiskDeps) {
  return {
    /**
     * `layer`: the OS layer this is a version of and the disks of its versions so far, whose identity
     * the new version keeps (absent in tasks started before OS layers had versions sharing one).
     */
    async importOsLayerDisk(input: {
      vmDisk: string;
      name: string;
      version: string;
      out: string;
      layer?: { id: string; versions: string[] };
    }): Promise<FileDigest> {
      const { layer, ...options } = input;
      await produce(input.out, async () => {
        const lineage = layer && (await osLayerLineage(layer.versions, layer.id));
        await importOsLayer({ ...options, ...(lineage ? { lineage } : {}) });
      });
      return digestFile(input.out);
    },

    /**
     * The workflow always chooses the creation sequence: priority must never depend on build time. The
     * layer's elastic-fit verdict comes from a scan of what it holds, against its OS layer (a built layer
     * has no capture to judge it).
     */
    async buildLayerDisk(
      input: Omit<BuildLayerOptions, 'creationSequence'> & { creationSequence: number },
    ): Promise<FileDigest & { elasticFit: ElasticFit }> {
      await produce(input.out, async () => {
        await buildLayer(input);
      });
      const elasticFit = await heartbeating('elastic fit', () =>
        assessElasticFit(input.out, { osLayer: input.os }),
      );
      return { ...(await digestFile(input.out)), elasticFit };
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

    /**
     * Reads the finished layer disk back: it opens as a layer of the expected type and hashes as
     * recorded. Answers the layer's first-start scripts, for the version's record.
     */
    async verifyLayerDisk(input: { path: string; type: LayerType; sha256: string }): Promise<VerifiedLayer> {
      return heartbeating('verify', async () => {
        const inspection = await inspectLayer(input.path);
        if (inspection.metadata.type !== input.type) {
          throw new Error(`${input.path} holds a ${inspection.metadata.type} layer, expected ${input.type}`);
        }
        if ((await digestFile(input.path)).sha256 !== input.sha256)
          throw new Error(`${input.path} changed after it was written`);
        const scripts = await layerScriptPaths(input.path);
        if (input.type !== 'os') return { scripts };
        return { scripts, volumeBytes: await withLayer(input.path, async (layer) => layer.partitionSize) };
      });
    },

    /**
     * The virtual size of a packaging machine's (UEFI) boot disk: what its content (the OS volume and
     * the layers composed on it) takes, plus `headroomBytes` for what the admin installs, plus the
     * partitions before the Windows one, in whole MiB. With no headroom the Windows volume is the OS
     * volume's own size: an OS layer's next version keeps the size of the one it updates.
     */
    async packagingBootDiskSize(input: {
      os: string;
      layers: string[];
      headroomBytes: number;
    }): Promise<number> {
      return heartbeating('size', async () => {
        let bytes = await withLayer(input.os, async (layer) => layer.partitionSize);
        for (const disk of input.layers) bytes += (await inspectLayer(disk)).bytes;
        // The partition table, ESP and MSR around the Windows partition: the same on any disk size.
        const probe = 64 * 2 ** 30;
        const outside = probe - windowsPartition(planDisk('uefi', probe)).size;
        return Math.ceil((bytes + input.headroomBytes + outside) / MiB) * MiB;
      });
    },

    /**
     * A packaging machine's layer version, captured from the difference between its boot disk now
     * (`after`) and the composed disk it started from (`base`); for an OS layer, the whole volume,
     * keeping the layer's identity. On a machine that showed the layer's `previous` version, the
     * difference is only what changed since: the version is written as the previous content with
     * the changes over it, so it stands alone (captureLayer does both). The capture report goes to the
     * task's `scratch` folder: a retried attempt that finds the layer disk and its report returns them.
     */
    async captureLayerVersion(input: {
      base: string;
      after: string;
      /** App and platform layers: the OS layer version they are made on; OS layers: the version updated. */
      osLayer: string;
      type: LayerType;
      name: string;
      version: string;
      creationSequence: number;
      /** OS layers: the layer and its versions' disks, whose identity the new version keeps. */
      layer?: { id: string; versions: string[] };
      /** App and platform layers: the layer's previous version, which the packaging machine showed. */
      previous?: string;
      /** A folder or zip of first-start scripts attached to the version. */
      scripts?: string;
      out: string;
      /** The task's scratch folder. */
      scratch: string;
    }): Promise<CapturedVersion> {
      const { layer, scratch, ...options } = input;
      const reportPath = path.join(scratch, 'capture.json');
      if (!(await fileExists(reportPath))) await fs.rm(input.out, { force: true });
      await produce(input.out, async (progress, signal) => {
        const lineage = layer && (await osLayerLineage(layer.versions, layer.id));
        // The CLI's capture: with the previous version and the scripts, the version is made whole there.
        await captureLayer({
          ...options,
          ...(lineage ? { lineage } : {}),
          out: input.out,
          reportPath,
          onProgress: ({ phase, done, total }) => progress({ phase, done, total }),
          signal,
        });
      });
      const report = JSON.parse(await fs.readFile(reportPath, 'utf8')) as CaptureReport;
      return {
        ...(await heartbeating('hash', () => digestFile(input.out))),
        elasticFit: report.elasticFit,
        captured: {
          files: report.captured.files,
          bytes: report.captured.bytes,
          deletions: report.captured.deletions.length,
          excluded: report.excluded.reduce((sum, rule) => sum + rule.count, 0),
          childOfBaseBytes: report.childOfBase?.bytes ?? null,
        },
      };
    },

    /**
     * Composes `out` and stores its report, then hashes the image, unless `hash` is false: a publish to
     * a share hashes the image as its copy reads it (copyImageToStore), instead of reading it once more.
     */
    composeImage: (async (input: ComposeImageInput) => {
      const composed = await composeWithReport(input, deps.repositoryDir);
      if (input.hash === false) return composed;
      Context.current().heartbeat({ phase: 'hash', done: 0, total: 1 });
      return { ...composed, ...(await digestFile(input.out)) };
    }) as ComposeImage,
  };
}

/** composeImage's two answers: with the image's digest (the default), or without it (`hash: false`). */
interface ComposeImage {
  (input: ComposeImageInput & { hash: false }): Promise<UnhashedImage>;
  (input: ComposeImageInput): Promise<ComposedImage>;
}

/** Composes `out` and stores its report; a finished compose is the image and its report, both present. */
async function composeWithReport(input: ComposeImageInput, repositoryDir: string): Promise<UnhashedImage> {
  const reportPath = input.reportId
    ? conflictReportPath(repositoryDir, input.reportId)
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
      withoutScripts: input.withoutScripts,
      settings: input.settings,
      onProgress: ({ phase, done, total }) => progress({ phase, done, total }),
    });
    await writeReport(reportPath, report);
  });
  const report = await readReport(reportPath);
  return {
    ...boundConflicts(report.conflicts),
    conflictSummary: summarise(report),
    // Reports stored before images carried scripts have no list: those images had none.
    scripts: (report.scripts ?? []).length,
    ...(input.reportId ? {} : { reportPath }),
  };
}

export type LayerDiskActivities = ReturnType<typeof createLayerDiskActivities>;
