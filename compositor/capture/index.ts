import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { countOperations, formatRegText, type RegOperation } from '../../registry';
import { derivedGuid } from '../disk-image';
import { ComposeError } from '../errors';
import { importOsLayer, osLayerLineage, type OsLayerLineage } from '../import-os';
import { mergeLayerVersions } from '../layer-merge';
import { createLayerDiskInPlace, layerPartitionSize, withLayer } from '../layer-disk';
import { layerIdentity, LayerType, osBinding, type LayerMetadata } from '../layer-metadata';
import { runNtfsCore, volumeArgument, type ProgressListener } from '../native';
import { writeReport } from '../report-file';
import { withWorkDir } from '../work-dir';
import { openDiskPair, type DiskPair } from './disk-pair';
import { elasticFitOf, type ElasticFit } from './elastic-fit';
import {
  describeRules,
  EXCLUSION_LIST_VERSION,
  excludedFile,
  FILE_RULES,
  REGISTRY_RULES,
} from './exclusions';
import { addTo, registryDelta } from './registry-delta';
import { diffVolumes, type CapturedEntry, type RecordsCompared } from './volume-diff';

/**
 * Capture by difference (ARCHITECTURE.md §4): a packaging machine's boot disk after the admin
 * installed (AFTER) against the disk it started from (BASE) → a layer disk holding what changed —
 * files with their streams, security descriptors, attributes and times, whiteouts for what went,
 * a .reg delta of the machine hives — minus the machine noise of the exclusion list, and a report
 * of what was captured, what each rule left out, and the elastic-fit verdict. An OS layer version
 * is the whole volume instead (what changed is still reported).
 */

export interface CaptureInput {
  /** Whole-disk image (any format) the packaging machine started from. */
  base: string;
  /**
   * The same disk after the install, shut down: a copy of BASE, or a child of it (a differencing
   * disk whose parent chain reaches BASE), whose block map then says which clusters can differ.
   */
  after: string;
  /** The OS layer disk the machine's image was made on: app and platform layers bind to it; an OS layer version continues it. */
  osLayer?: string;
  type: LayerType;
  name: string;
  version?: string;
  /** Orders app layers in an image; defaults to the capture time in milliseconds. */
  creationSequence?: number;
  /** OS layers: the identity the new version continues (default: that of `osLayer`). */
  lineage?: OsLayerLineage;
  /**
   * App and platform layers: the layer's previous version (a layer disk), which the packaging
   * machine showed. The version written stands alone: the previous content with the changes over
   * it (layer-merge.ts).
   */
  previous?: string;
  /** App and platform layers: a folder or zip of first-start scripts attached to the version. */
  scripts?: string;
  /** The layer disk; it appears only when complete. */
  out: string;
  /** Also write the report (JSON) here. */
  reportPath?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface CapturedItem {
  /** Windows path. */
  path: string;
  kind: 'added' | 'changed';
  dir: boolean;
  size: number;
}

export interface ExcludedByRule {
  rule: string;
  kind: 'file' | 'registry';
  description: string;
  count: number;
  /** Bytes of the files left out (0 for registry rules). */
  bytes: number;
  /** Windows paths, or `KEY` / `KEY "value"`. */
  items: string[];
}

export interface CaptureReport {
  schema: 1;
  exclusionList: { version: number; rules: ReturnType<typeof describeRules> };
  layer: LayerMetadata;
  base: string;
  after: string;
  /** `difference`: the layer holds what changed; `full-volume`: an OS layer version, the whole volume. */
  mode: 'difference' | 'full-volume';
  captured: {
    files: number;
    directories: number;
    bytes: number;
    items: CapturedItem[];
    /** Windows paths deleted (whiteouts). */
    deletions: string[];
    registry: ReturnType<typeof countOperations>;
  };
  excluded: ExcludedByRule[];
  elasticFit: ElasticFit;
  /**
   * AFTER is a child of BASE: the bytes of the volume it holds, the only clusters inspected for
   * changed MFT records. Null when AFTER is a copy (every record is compared).
   */
  childOfBase: { bytes: number } | null;
  /** MFT records compared, of all the volumes have. */
  records: RecordsCompared;
  seconds: number;
  /** Seconds per step: diff (the volumes), registry (the hives), write (the layer disk). */
  timings: { phase: string; seconds: number }[];
}

function windowsPath(volumePath: string): string {
  return volumePath.replace(/\//g, '\\');
}

/** What the exclusion list keeps of the volume changes, and what each file rule left out. */
function applyFileRules(entries: CapturedEntry[], deletions: { path: string; size: number }[]) {
  const excluded = new Map<string, { path: string; size: number }[]>();
  const keep = <T extends { path: string; size: number }>(item: T): boolean => {
    const rule = excludedFile(item.path);
    if (rule) addTo(excluded, rule, { path: item.path, size: item.size });
    return rule === undefined;
  };
  return { entries: entries.filter(keep), deletions: deletions.filter(keep), excluded };
}

/** The copy list for `lamina_ntfs copy-paths`: every captured entry, and the folders above them. */
function copyList(entries: CapturedEntry[]): string[] {
  const lines = new Map<string, string>();
  for (const entry of entries) {
    for (let end = entry.path.indexOf('/', 1); end > 0; end = entry.path.indexOf('/', end + 1)) {
      const folder = entry.path.slice(0, end);
      lines.set(folder.toUpperCase(), `dir ${folder}`);
    }
    lines.set(entry.path.toUpperCase(), `${entry.dir ? 'dir' : 'file'} ${entry.path}`);
  }
  const byPath = (line: string) => line.slice(line.indexOf(' ') + 1);
  return [...lines.values()].sort((a, b) => (byPath(a) < byPath(b) ? -1 : byPath(a) > byPath(b) ? 1 : 0));
}

async function* linesOf(lines: string[]): AsyncGenerator<string> {
  for (const line of lines) yield `${line}\n`;
}

async function readOsLayer(osLayer: string | undefined, type: LayerType): Promise<LayerMetadata | undefined> {
  if (!osLayer) {
    if (type === 'os') return undefined;
    throw new ComposeError(`a captured ${type} layer is bound to an OS layer: give the OS layer disk (--os)`);
  }
  const os = await withLayer(osLayer, async (layer) => layer.metadata);
  if (os.type !== 'os') throw new ComposeError(`${osLayer} is a ${os.type} layer, not an OS layer`);
  return os;
}

async function writeDifferenceLayer(
  input: CaptureInput,
  out: string,
  pair: DiskPair,
  work: string,
  entries: CapturedEntry[],
  deletions: string[],
  registry: RegOperation[],
  os: LayerMetadata,
): Promise<LayerMetadata> {
  const regText = registry.length > 0 ? Buffer.from(formatRegText(registry), 'utf8') : undefined;
  const bytes = entries.reduce((sum, e) => sum + e.size, 0);
  const creationSequence = input.creationSequence ?? Date.now();
  const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
  const version = input.version ?? '1';
  const lines = copyList(entries);
  // What the layer holds is known before it is written: its hash names it, and the disk is made in place.
  const hash = createHash('sha256');
  for (const entry of entries) hash.update(`${entry.path}\0${entry.dir}\0${entry.size}\n`);
  hash.update(JSON.stringify(deletions));
  if (regText) hash.update(regText);
  const contentHash = hash.digest('hex');
  const metadata: LayerMetadata = {
    schema: 1,
    id: derivedGuid(
      `${input.type}:${input.name}:${version}:${creationSequence}:${contentHash}`,
    ).toLowerCase(),
    name: input.name,
    type: input.type,
    version,
    os: osBinding(os),
    creationSequence,
    createdAt,
    contentHash,
  };
  await createLayerDiskInPlace(
    out,
    work,
    layerPartitionSize(bytes + (regText?.length ?? 0), lines.length),
    {
      metadata,
      write: (volume) =>
        runNtfsCore(['copy-paths', volumeArgument(pair.after), volume, String(bytes)], {
          input: linesOf(lines),
          served: pair.after.mapFile ? undefined : pair.after,
          epoch: Date.parse(createdAt) / 1000,
          onProgress: input.onProgress,
          signal: input.signal,
        }).then(() => undefined),
      deletions,
      registry: regText,
    },
    { signal: input.signal },
  );
  return metadata;
}

/** An OS layer version is AFTER's whole volume, continuing the identity of the OS layer it was made on. */
async function writeOsVersion(input: CaptureInput, os: LayerMetadata | undefined): Promise<LayerMetadata> {
  const lineage =
    input.lineage ??
    (input.osLayer && os ? await osLayerLineage([input.osLayer], layerIdentity(os)) : undefined);
  return importOsLayer({
    vmDisk: input.after,
    name: input.name,
    version: input.version ?? '1',
    out: input.out,
    lineage,
  });
}

function excludedReport(
  files: Map<string, { path: string; size: number }[]>,
  registry: Map<string, string[]>,
): ExcludedByRule[] {
  return [
    ...FILE_RULES.filter((rule) => files.has(rule.id)).map((rule) => {
      const items = files.get(rule.id)!;
      return {
        rule: rule.id,
        kind: 'file' as const,
        description: rule.description,
        count: items.length,
        bytes: items.reduce((sum, item) => sum + item.size, 0),
        items: items.map((item) => windowsPath(item.path)),
      };
    }),
    ...REGISTRY_RULES.filter((rule) => registry.has(rule.id)).map((rule) => ({
      rule: rule.id,
      kind: 'registry' as const,
      description: rule.description,
      count: registry.get(rule.id)!.length,
      bytes: 0,
      items: registry.get(rule.id)!,
    })),
  ];
}

/** Captures a layer from a packaging machine's disk; see CaptureInput. Nothing is left at `out` on failure. */
export async function captureLayer(input: CaptureInput): Promise<CaptureReport> {
  const started = Date.now();
  LayerType.parse(input.type);
  if (!input.name.trim()) throw new ComposeError('a captured layer needs a name');
  if (input.type === 'os' && (input.scripts || input.previous))
    throw new ComposeError(
      input.scripts
        ? 'first-start scripts are attached to app and platform layers, not OS layers'
        : 'an OS layer version is the whole volume: it is not merged with a previous version',
    );
  const os = await readOsLayer(input.osLayer, input.type);
  return withWorkDir(input.out, async (work) => {
    const pair = await openDiskPair(input.base, input.after, work);
    let layer: LayerMetadata;
    let report: Omit<CaptureReport, 'layer' | 'seconds' | 'timings'>;
    const timings: { phase: string; seconds: number }[] = [];
    const timed = async <T>(phase: string, step: () => Promise<T>): Promise<T> => {
      const at = Date.now();
      input.onProgress?.({ phase, done: 0, total: 1 });
      const result = await step();
      timings.push({ phase, seconds: (Date.now() - at) / 1000 });
      input.onProgress?.({ phase, done: 1, total: 1 });
      return result;
    };
    try {
      const changes = await timed('diff', () =>
        diffVolumes(pair.base, pair.after, {
          changedRanges: pair.childOfBase?.rangesFile,
          signal: input.signal,
        }),
      );
      const kept = applyFileRules(changes.entries, changes.deletions);
      const registry = await timed('registry', () =>
        registryDelta(
          { volume: pair.base, disk: input.base },
          { volume: pair.after, disk: input.after },
          work,
        ),
      );
      input.signal?.throwIfAborted();
      const deletions = kept.deletions.map((d) => windowsPath(d.path));
      const below = new Set(
        [...kept.entries.filter((e) => e.kind === 'changed'), ...kept.deletions].map((e) =>
          e.path.toUpperCase(),
        ),
      );
      const elasticFit = elasticFitOf({
        files: kept.entries.filter((e) => !e.dir).map((e) => e.path),
        deletions,
        registry: registry.operations,
        existsBelow: (p) => below.has(p.toUpperCase()),
      });
      const files = kept.entries.filter((e) => !e.dir);
      report = {
        schema: 1,
        exclusionList: { version: EXCLUSION_LIST_VERSION, rules: describeRules() },
        base: input.base,
        after: input.after,
        mode: input.type === 'os' ? 'full-volume' : 'difference',
        captured: {
          files: files.length,
          directories: kept.entries.length - files.length,
          bytes: files.reduce((sum, e) => sum + e.size, 0),
          items: kept.entries.map((e) => ({
            path: windowsPath(e.path),
            kind: e.kind,
            dir: e.dir,
            size: e.size,
          })),
          deletions,
          registry: countOperations(registry.operations),
        },
        excluded: excludedReport(kept.excluded, registry.excluded),
        elasticFit,
        childOfBase: pair.childOfBase ? { bytes: pair.childOfBase.bytes } : null,
        records: changes.recordsCompared,
      };
      // Made whole from the previous version and the scripts, the changes go to the work folder first.
      const assembled = input.previous !== undefined || input.scripts !== undefined;
      const written = assembled ? path.join(work, 'changes.vhdx') : input.out;
      layer = await timed('write', () =>
        input.type === 'os' || !os
          ? writeOsVersion(input, os)
          : writeDifferenceLayer(
              input,
              written,
              pair,
              work,
              kept.entries,
              deletions,
              registry.operations,
              os,
            ),
      );
      if (assembled)
        layer = await timed('merge', () =>
          mergeLayerVersions({
            previous: input.previous,
            changes: written,
            scripts: input.scripts,
            out: input.out,
          }),
        );
    } finally {
      await pair.close();
    }
    const finished: CaptureReport = { ...report, layer, seconds: (Date.now() - started) / 1000, timings };
    if (input.reportPath) {
      try {
        await writeReport(input.reportPath, finished);
      } catch (err) {
        await fs.rm(input.out, { force: true });
        throw err;
      }
    }
    return finished;
  });
}
