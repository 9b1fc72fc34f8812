import { promises as fs } from 'node:fs';
import { parseRegText } from '../registry';
import { derivedGuid } from './disk-image';
import { createLayerDisk, layerPartitionSize, withLayer } from './layer-disk';
import { METADATA_FILES, osBinding, type LayerMetadata } from './layer-metadata';
import { openLayerSource, sourceOperations, type LayerSource } from './layer-sources';
import { applyToVolume } from './volume';
import { toVolumePath } from './volume-operations';
import { withWorkDir } from './work-dir';
import { ComposeError } from './errors';

/** Layer-as-code: an app or platform layer built from a folder or zip, a .reg file, deletions and scripts. */

export interface BuildLayerOptions {
  type: 'app' | 'platform';
  name: string;
  version: string;
  /** The OS layer disk this layer is bound to. */
  os: string;
  from: string;
  reg?: string;
  deletions?: string;
  scripts?: string;
  out: string;
  /** Orders app layers in an image; defaults to the build time in milliseconds. */
  creationSequence?: number;
}

/** One Windows path per line; blank lines and `#` comments ignored. */
export async function readDeletions(file: string): Promise<string[]> {
  const lines = (await fs.readFile(file, 'utf8')).split(/\r?\n/);
  const paths = lines.map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  paths.forEach((p) => toVolumePath(p)); // rejects what Windows would, naming the path
  return paths;
}

function partitionSizeFor(sources: LayerSource[]): number {
  const entries = sources.flatMap((s) => s.entries);
  return layerPartitionSize(
    entries.reduce((sum, e) => sum + e.size, 0),
    entries.length,
  );
}

export async function buildLayer(options: BuildLayerOptions): Promise<LayerMetadata> {
  const registry = options.reg ? await fs.readFile(options.reg) : undefined;
  // Refuse a broken .reg now, naming its line, rather than when an image is composed.
  if (registry && options.reg) parseRegText(registry, options.reg);
  const deletions = options.deletions ? await readDeletions(options.deletions) : [];
  const os = await withLayer(options.os, async (layer) => layer.metadata);
  if (os.type !== 'os') throw new ComposeError(`${options.os} is a ${os.type} layer, not an OS layer`);
  return withWorkDir(options.out, async (work) => {
    const content = await openLayerSource(options.from);
    const scripts = options.scripts ? await openLayerSource(options.scripts) : undefined;
    try {
      const creationSequence = options.creationSequence ?? Date.now();
      const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
      return await createLayerDisk(
        options.out,
        work,
        partitionSizeFor(scripts ? [content, scripts] : [content]),
        {
          async write(partition, hash) {
            await applyToVolume(partition, sourceOperations(content), {
              hash,
              epoch: Date.parse(createdAt) / 1000,
            });
            if (scripts) {
              for (const entry of scripts.entries)
                entry.windowsPath = `${METADATA_FILES.scripts.slice(1)}\\${entry.windowsPath}`;
              await applyToVolume(partition, sourceOperations(scripts), {
                hash,
                epoch: Date.parse(createdAt) / 1000,
              });
            }
            hash.update(JSON.stringify(deletions));
            if (registry) hash.update(registry);
          },
          metadata: (contentHash) => ({
            schema: 1,
            id: derivedGuid(
              `${options.type}:${options.name}:${options.version}:${creationSequence}:${contentHash}`,
            ).toLowerCase(),
            name: options.name,
            type: options.type,
            version: options.version,
            os: osBinding(os),
            creationSequence,
            createdAt,
            contentHash,
          }),
          deletions,
          registry,
        },
      );
    } finally {
      await content.close();
      await scripts?.close();
    }
  });
}
