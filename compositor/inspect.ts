import { countOperations } from '../registry';
import { withLayer } from './layer-disk';
import type { LayerMetadata } from './layer-metadata';
import { parseLayerRegistry } from './registry-merge';
import { listVolume } from './volume';

export interface LayerInspection {
  file: string;
  metadata: LayerMetadata;
  files: number;
  directories: number;
  bytes: number;
  deletions: string[];
  registryOperations: ReturnType<typeof countOperations>;
}

/** What `lamina layer inspect` shows: metadata, file count, bytes, registry operations. */
export async function inspectLayer(file: string): Promise<LayerInspection> {
  return withLayer(file, async (layer) => {
    const entries = await listVolume(layer.volume);
    const files = entries.filter((e) => !e.dir);
    return {
      file,
      metadata: layer.metadata,
      files: files.length,
      directories: entries.length - files.length,
      bytes: files.reduce((sum, e) => sum + e.size, 0),
      deletions: layer.deletions,
      registryOperations: countOperations(parseLayerRegistry(layer.metadata.name, layer.registry).operations),
    };
  });
}
