import type { VolumeEntry } from './volume';

/** A file that more than one non-OS layer provides: the highest-priority one wins. */
export interface FileConflict {
  /** Windows path, as the winning layer spells it. */
  path: string;
  winner: string;
  /** Lower-priority providers, lowest first. */
  losers: string[];
}

export interface LayerFiles {
  layer: string;
  entries: VolumeEntry[];
}

/** For layers given lowest priority first: every file two or more provide (paths compare case-insensitively, as on NTFS). */
export function findFileConflicts(layers: LayerFiles[]): FileConflict[] {
  const providers = new Map<string, { path: string; layers: string[] }>();
  for (const { layer, entries } of layers) {
    for (const entry of entries) {
      if (entry.dir) continue;
      const key = entry.path.toUpperCase();
      const found = providers.get(key) ?? { path: entry.path, layers: [] };
      found.path = entry.path;
      found.layers.push(layer);
      providers.set(key, found);
    }
  }
  return [...providers.values()]
    .filter((p) => p.layers.length > 1)
    .map((p) => ({
      path: p.path.replace(/\//g, '\\'),
      winner: p.layers[p.layers.length - 1],
      losers: p.layers.slice(0, -1),
    }));
}
