import { formatRegText, parseRegText } from '../registry';
import { derivedGuid } from './disk-image';
import { createLayerDisk, layerPartitionSize, openLayer, type OpenedLayer } from './layer-disk';
import { METADATA_FILES, type LayerMetadata } from './layer-metadata';
import { applyToVolume, listVolume, overlayVolume, readVolumeFile } from './volume';
import { openLayerSource } from './layer-sources';
import type { Content, VolumeOperation } from './volume-operations';
import { withWorkDir } from './work-dir';
import { ComposeError } from './errors';

/**
 * A captured app or platform layer version made whole. A new version is packaged on a machine that
 * already shows its previous version (ARCHITECTURE.md §4), so what is captured there is only what
 * changed since; each version must stand alone in an image, though. This writes the version's disk as
 * the previous version's content with the changes over it — files the new version deleted gone,
 * changed files replaced, new ones added, both versions' registry changes in order (the later ones
 * win), both versions' deletions (they remove what lower layers hold, as they did on the packaging
 * machine) — and the first-start scripts attached at packaging, else the previous version's.
 */

export interface MergeOptions {
  /** The layer's previous version (a layer disk), when the packaging machine showed one. */
  previous?: string;
  /** What was captured on the packaging machine (a layer disk). */
  changes: string;
  /** A folder or zip of first-start scripts attached to the version. */
  scripts?: string;
  out: string;
}

/** The registry.reg files as one, the previous version's operations first. */
function mergedRegistry(layers: OpenedLayer[]): Buffer | undefined {
  const operations = layers.flatMap((layer) =>
    layer.registry ? parseRegText(layer.registry, `${layer.metadata.name}: registry.reg`).operations : [],
  );
  return operations.length > 0 ? Buffer.from(formatRegText(operations), 'utf8') : undefined;
}

/** A script file as written into a layer's `\.lamina\scripts`. */
type ScriptFile = VolumeOperation & { op: 'file'; content: Buffer };

/** The first-start scripts of `layer`, to write into another layer disk. */
async function scriptOperations(layer: OpenedLayer): Promise<ScriptFile[]> {
  const folder = METADATA_FILES.scripts.replace(/\\/g, '/');
  const operations: ScriptFile[] = [];
  for (const entry of await listVolume(layer.volume, folder))
    if (!entry.dir)
      operations.push({
        op: 'file',
        path: entry.path.replace(/\//g, '\\'),
        content: await readVolumeFile(layer.volume, entry.path),
      });
  return operations;
}

/** Attached scripts as operations writing them into the layer's `\.lamina\scripts`. */
async function attachedScripts(from: string): Promise<ScriptFile[]> {
  const source = await openLayerSource(from);
  try {
    const operations: ScriptFile[] = [];
    for (const entry of source.entries)
      if (!entry.dir)
        operations.push({
          op: 'file',
          path: `${METADATA_FILES.scripts}\\${entry.windowsPath}`,
          content: await readAll(await entry.open()),
        });
    return operations;
  } finally {
    await source.close();
  }
}

async function readAll(content: Content): Promise<Buffer> {
  if (Buffer.isBuffer(content)) return content;
  const chunks: Buffer[] = [];
  for await (const chunk of content.stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export async function mergeLayerVersions(options: MergeOptions): Promise<LayerMetadata> {
  const opened: OpenedLayer[] = [];
  try {
    const previous = options.previous ? await openLayer(options.previous) : undefined;
    if (previous) opened.push(previous);
    const changes = await openLayer(options.changes);
    opened.push(changes);
    const after = changes.metadata;
    if (previous && (previous.metadata.type !== after.type || previous.metadata.name !== after.name))
      throw new ComposeError(
        `${options.changes} (${after.type} layer ${after.name}) is not a new version of ${options.previous} (${previous.metadata.type} layer ${previous.metadata.name})`,
      );
    const registry = mergedRegistry(opened);
    const deletions = [...new Set(opened.flatMap((layer) => layer.deletions))];
    const listings = await Promise.all(opened.map((layer) => listVolume(layer.volume)));
    const scripts = options.scripts
      ? await attachedScripts(options.scripts)
      : await scriptOperations(changes);
    const keptScripts = scripts.length > 0 || !previous ? scripts : await scriptOperations(previous);
    const bytes = listings.flat().reduce((sum, e) => sum + e.size, 0);
    const scriptBytes = keptScripts.reduce((sum, script) => sum + script.content.length, 0);
    const entries = listings.flat().length + keptScripts.length;
    return await withWorkDir(options.out, (work) =>
      createLayerDisk(
        options.out,
        work,
        layerPartitionSize(bytes + scriptBytes + (registry?.length ?? 0), entries),
        {
          async write(partition, hash) {
            const epoch = Date.parse(after.createdAt) / 1000;
            if (previous) {
              await overlayVolume(previous.volume, partition, { epoch });
              if (changes.deletions.length > 0)
                await applyToVolume(
                  partition,
                  changes.deletions.map((path) => ({ op: 'delete' as const, path })),
                  { epoch },
                );
            }
            await overlayVolume(changes.volume, partition, { epoch });
            await applyToVolume(partition, keptScripts, { epoch });
            // What the version holds, as the other layer disks' hashes see it: paths and sizes, then metadata.
            for (const entry of await listVolume(partition)) hash.update(`${entry.path}\0${entry.size}\n`);
            for (const script of keptScripts) hash.update(`${script.path}\n`);
            hash.update(JSON.stringify(deletions));
            if (registry) hash.update(registry);
          },
          metadata: (contentHash) => ({
            ...after,
            id: derivedGuid(
              `${after.type}:${after.name}:${after.version}:${after.creationSequence}:${contentHash}`,
            ).toLowerCase(),
            contentHash,
          }),
          deletions,
          registry,
        },
      ),
    );
  } finally {
    await Promise.all(opened.map((layer) => layer.close()));
  }
}
