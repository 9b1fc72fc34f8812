import { z } from 'zod';
import { LAYER_TYPES } from '../domain/layers';

/**
 * `\.lamina\layer.json` of a layer disk (ARCHITECTURE.md §4): identity, type, version, OS binding,
 * creation sequence (which orders app layers in an image) and content hash.
 */
export const LayerType = z.enum(LAYER_TYPES);
export type LayerType = z.infer<typeof LayerType>;

export const LayerMetadata = z.object({
  schema: z.literal(1),
  id: z.string().min(1),
  name: z.string().min(1),
  type: LayerType,
  version: z.string().min(1),
  /** The OS layer an app or platform layer was built on; absent for OS layers. */
  os: z.object({ id: z.string().min(1), name: z.string().min(1) }).optional(),
  creationSequence: z.number().int().nonnegative(),
  createdAt: z.string().datetime(),
  /** SHA-256 of the layer's content as written (paths, metadata and bytes, in order). */
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type LayerMetadata = z.infer<typeof LayerMetadata>;

/** `\.lamina\deletions.json`: Windows paths this layer removes from lower layers. */
export const LayerDeletions = z.array(z.string().min(1));

export const METADATA_DIR = '\\.lamina';
export const METADATA_FILES = {
  layer: `${METADATA_DIR}\\layer.json`,
  deletions: `${METADATA_DIR}\\deletions.json`,
  registry: `${METADATA_DIR}\\registry.reg`,
  scripts: `${METADATA_DIR}\\scripts`,
} as const;
