import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { OutputFormat } from './disk-image';
import { createImageTarget, type ImageTarget } from './image-target';
import type { DiskFirmware } from '../domain/firmware';
import { planDisk, windowsPartition } from './disk-layout';
import { makeEsp, type BootFile } from './esp';
import { findFileConflicts, type FileConflict } from './file-conflicts';
import type { ImageSettings } from '../domain/image-settings';
import { imageSettingsRegistry } from './image-settings';
import { HIVE_DIR, REQUIRED_HIVES, checkHive } from './import-os';
import { layerInputName, type LayerInput } from './iscsi-lun';
import { openLayer, type OpenedLayer } from './layer-disk';
import { isBoundTo, METADATA_DIR } from './layer-metadata';
import { NtfsCoreError, type ProgressListener } from './native';
import { mergeRegistry, parseLayerRegistry } from './registry-merge';
import type { RegistryValueConflict } from '../registry';
import {
  applyToVolume,
  finalizeVolume,
  listVolume,
  overlayVolume,
  readVolumeFile,
  type VolumeEntry,
} from './volume';
import { placeScriptsRunner, type PlacedScript } from './scripts-runner';
import { withWorkDir } from './work-dir';
import { ComposeError } from './errors';

/**
 * The compositor (ARCHITECTURE.md §5): OS layer, app layers and platform layer into one disk.
 * Priority comes from the layers' metadata — apps by creation sequence, the platform always
 * last — never from the order of the arguments.
 */

export interface ComposeOptions {
  /** Layer disks: files, or iSCSI LUNs (in a Compositing Engine). */
  os: LayerInput;
  platform?: LayerInput;
  apps: LayerInput[];
  size: number;
  firmware: DiskFirmware;
  format: OutputFormat;
  out: string;
  /** Where the CLI will write the report: checked up front, so a bad path fails before the work. */
  report?: string;
  /** The template's elastic layering and user-layer settings, merged into the hives after every layer. */
  settings?: ImageSettings;
  onProgress?: ProgressListener;
  /** Cancels the compose: the running step stops, nothing is left behind. */
  signal?: AbortSignal;
  /**
   * Leaves the layers' first-start scripts and their runner out: a packaging machine's boot disk,
   * where layers are made, not used (the runner would run there and its traces be captured).
   */
  withoutScripts?: boolean;
}

export interface LayerTiming {
  layer: string;
  phase: string;
  milliseconds: number;
}

export interface ComposeReport {
  image: { file: string; format: OutputFormat; firmware: DiskFirmware; sizeBytes: number };
  /** Lowest priority first. */
  layers: { name: string; type: string; version: string; id: string; creationSequence: number }[];
  conflicts: { files: FileConflict[]; registry: RegistryValueConflict[] };
  /** The layers' first-start scripts placed for the runner, in the order it runs them (none: no runner). */
  scripts: PlacedScript[];
  totals: {
    files: number;
    bytes: number;
    deletions: number;
    registryOperations: number;
    fileConflicts: number;
    registryConflicts: number;
  };
  timings: LayerTiming[];
}

async function checkReadable(inputs: LayerInput[]): Promise<void> {
  // A LUN is checked by logging in to it, when it is opened.
  for (const file of inputs.filter((input) => typeof input === 'string')) {
    await fs.access(file, constants.R_OK).catch(() => {
      throw new ComposeError(`${file}: missing or unreadable layer`);
    });
  }
}

/** Fails before any work when the output could not be written at the end. */
async function checkWritableDirectory(file: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await fs.access(dir, constants.W_OK).catch(() => {
    throw new ComposeError(`${dir}: no such folder, or not writable (for ${file})`);
  });
}

/** Lowest priority first: apps by creation sequence, then the platform. */
function prioritise(os: OpenedLayer, apps: OpenedLayer[], platform: OpenedLayer | undefined): OpenedLayer[] {
  const byLayer = (layer: OpenedLayer) => `${layer.metadata.name} (${layer.disk})`;
  if (os.metadata.type !== 'os')
    throw new ComposeError(`${os.disk} is a ${os.metadata.type} layer, not an OS layer`);
  for (const layer of [...apps, ...(platform ? [platform] : [])]) {
    if (layer.metadata.type === 'os')
      throw new ComposeError(`two OS layers: ${byLayer(os)} and ${byLayer(layer)}`);
    // Any version of its OS layer will do: updating Windows keeps every app layer usable.
    if (!isBoundTo(layer.metadata, os.metadata)) {
      throw new ComposeError(
        `${byLayer(layer)} is bound to OS layer ${layer.metadata.os?.name ?? '?'}, not to ${os.metadata.name}`,
      );
    }
  }
  for (const app of apps)
    if (app.metadata.type !== 'app')
      throw new ComposeError(`${byLayer(app)} is a ${app.metadata.type} layer, given as --app`);
  if (platform && platform.metadata.type !== 'platform')
    throw new ComposeError(`${byLayer(platform)} is a ${platform.metadata.type} layer, given as --platform`);
  const ordered = [...apps].sort((a, b) => a.metadata.creationSequence - b.metadata.creationSequence);
  return platform ? [...ordered, platform] : ordered;
}

/** Boot files for the ESP, from the composed volume's \Windows\Boot\EFI. */
async function bootFiles(partition: string): Promise<BootFile[]> {
  const folder = '/Windows/Boot/EFI';
  const prefix = `${folder.toLowerCase()}/`;
  const files: BootFile[] = [];
  for (const entry of await listVolume(partition, folder)) {
    if (entry.dir || !entry.path.toLowerCase().startsWith(prefix)) continue;
    files.push({
      relativePath: entry.path.slice(prefix.length),
      data: await readVolumeFile(partition, entry.path),
    });
  }
  return files;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function isNoSpace(err: unknown): boolean {
  // Duck-typed: errors from Node's fs may come from another realm (e.g. under jest).
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' || /No space left/i.test(String(err));
}

/** Whether the file system holding `dir` (not the image's NTFS volume) has run out of space. */
async function hostIsFull(dir: string): Promise<boolean> {
  const stats = await fs.statfs(dir);
  return stats.bavail * stats.bsize < 16 * 2 ** 20;
}

/** Runs `task`; if it fails because the disk holding `work` is full, says so in plain words. */
async function explainNoSpace<T>(work: string, out: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    if (!(err instanceof ComposeError) && isNoSpace(err) && (await hostIsFull(work))) {
      throw new ComposeError(
        `disk full: no space left for ${out} and its scratch files in ${path.dirname(path.resolve(out))}`,
      );
    }
    throw err;
  }
}

export async function compose(options: ComposeOptions): Promise<ComposeReport> {
  await checkReadable([options.os, ...options.apps, ...(options.platform ? [options.platform] : [])]);
  for (const file of [options.out, ...(options.report ? [options.report] : [])])
    await checkWritableDirectory(file);
  const timings: LayerTiming[] = [];
  const timed = async <T>(layer: string, phase: string, step: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    const result = await step();
    timings.push({ layer, phase, milliseconds: Number((process.hrtime.bigint() - started) / 1000000n) });
    return result;
  };
  const progress = options.onProgress;
  const signal = options.signal;

  const opened: OpenedLayer[] = [];
  return withWorkDir(options.out, (work) =>
    explainNoSpace(work, options.out, async () => {
      // Every layer is read in place, straight from its disk.
      const open = async (disk: LayerInput) => {
        const layer = await timed(path.basename(layerInputName(disk)), 'open', () =>
          openLayer(disk, { signal }),
        );
        opened.push(layer);
        return layer;
      };
      const os = await open(options.os);
      const windowsSize = windowsPartition(planDisk(options.firmware, options.size)).size;
      if (os.partitionSize > windowsSize) {
        throw new ComposeError(
          `the Windows partition would be ${mib(windowsSize)} MiB, smaller than the OS layer's volume (${mib(os.partitionSize)} MiB): choose a bigger --size-gib`,
        );
      }
      for (const hive of REQUIRED_HIVES) await checkHive(os.volume, hive, `${os.disk} (${HIVE_DIR})`);
      const settled = await Promise.allSettled(options.apps.map(open));
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      const apps = settled.map((result) => (result as PromiseFulfilledResult<OpenedLayer>).value);
      const platform = options.platform ? await open(options.platform) : undefined;
      const layers = prioritise(os, apps, platform);
      const settings = options.settings && imageSettingsRegistry(options.settings);
      const registries = [
        ...layers.map((l) => parseLayerRegistry(l.metadata.name, l.registry)),
        ...(settings ? [settings] : []),
      ];

      // Everything the image is derived from: same inputs, same bytes.
      const identity = createHash('sha256')
        .update(
          JSON.stringify([
            options.firmware,
            options.size,
            ...[os, ...layers].map((l) => [l.metadata.id, l.metadata.contentHash]),
            ...(options.settings ? [options.settings] : []),
          ]),
        )
        .digest('hex');
      const epoch = Math.max(...[os, ...layers].map((l) => Date.parse(l.metadata.createdAt) / 1000));

      const layout = planDisk(options.firmware, options.size, identity);
      /** What each layer holds, for the conflict report. */
      let listing: Promise<{ layer: string; entries: VolumeEntry[] }[]> | undefined;
      /** Everything from the OS volume in place to the finished output, in `target`. */
      const composeInto = async (target: ImageTarget): Promise<ComposeReport> => {
        await timed(os.metadata.name, 'clone OS', () =>
          target.placeOsVolume(os.volume, os.partitionSize, { onProgress: progress, signal }),
        );
        // Listed while the layers are applied (it needs only the layers), on the core the
        // disk-bound overlays leave idle. Not during the clone: the listings' small reads slowed
        // its large ones (the OS clone took 7.1 s instead of 8.4 s on average over six runs).
        listing = Promise.all(
          layers.map(async (l) => ({ layer: l.metadata.name, entries: await listVolume(l.volume) })),
        );
        listing.catch(() => undefined); // awaited below; a failure meanwhile is not "unhandled"
        await applyToVolume(target.volume, [{ op: 'delete', path: METADATA_DIR }], { epoch, signal });

        let deletions = 0;
        for (const layer of layers) {
          const name = layer.metadata.name;
          deletions += layer.deletions.length;
          if (layer.deletions.length > 0)
            await timed(name, 'deletions', () =>
              applyToVolume(
                target.volume,
                layer.deletions.map((p) => ({ op: 'delete' as const, path: p })),
                { epoch, signal },
              ),
            );
          await timed(name, 'files', () =>
            overlayVolume(layer.volume, target.volume, {
              epoch,
              onProgress: progress && ((p) => progress({ ...p, phase: `overlay ${name}` })),
              signal,
            }),
          ).catch(async (err: unknown) => {
            throw err instanceof NtfsCoreError && isNoSpace(err) && !(await hostIsFull(work))
              ? new ComposeError(
                  `the image is too small for the content (${name} did not fit): choose a bigger --size-gib`,
                )
              : err;
          });
        }
        // The layers' first-start scripts and their runner, with its service entry merged last.
        const placed = options.withoutScripts
          ? { scripts: [] }
          : await timed('(all layers)', 'scripts', () =>
              placeScriptsRunner(target.volume, [os, ...layers], { epoch, signal }),
            );
        const registry = await timed('(all layers)', 'registry', () =>
          mergeRegistry(
            target.volume,
            [...registries, ...(placed.registry ? [placed.registry] : [])],
            work,
            epoch,
          ),
        );
        const layerFiles = await listing;
        await finalizeVolume(
          target.volume,
          createHash('sha256').update(`${identity}:serial`).digest(),
          windowsPartition(layout).offset,
        );

        const esp = layout.partitions.find((p) => p.role === 'esp');
        const espFile = path.join(work, 'esp.fat');
        if (esp)
          await timed('(image)', 'esp', async () =>
            makeEsp(espFile, esp.size, await bootFiles(target.volume), { epoch, seed: identity }),
          );
        await timed('(image)', 'write', () =>
          target.finish(esp ? { esp: espFile } : {}, { onProgress: progress, signal }),
        );

        const fileConflicts = findFileConflicts(layerFiles);
        const files = layerFiles.flatMap((l) => l.entries.filter((e) => !e.dir));
        return {
          image: {
            file: options.out,
            format: options.format,
            firmware: options.firmware,
            sizeBytes: options.size,
          },
          layers: [os, ...layers].map(({ metadata: m }) => ({
            name: m.name,
            type: m.type,
            version: m.version,
            id: m.id,
            creationSequence: m.creationSequence,
          })),
          conflicts: { files: fileConflicts, registry: registry.conflicts },
          scripts: placed.scripts,
          totals: {
            files: files.length,
            bytes: files.reduce((sum, e) => sum + e.size, 0),
            deletions,
            registryOperations: registry.operations,
            fileConflicts: fileConflicts.length,
            registryConflicts: registry.conflicts.length,
          },
          timings,
        };
      };
      const target = await createImageTarget(options.format, options.out, layout, work, identity);
      try {
        return await composeInto(target);
      } catch (err) {
        await target.abort();
        await Promise.allSettled([listing]); // no core process left reading a layer being closed
        throw err;
      }
    }),
  ).finally(() => Promise.all(opened.map((layer) => layer.close())));
}
