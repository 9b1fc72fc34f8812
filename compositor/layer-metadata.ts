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
  /**
   * The layer's identity, shared by all its versions: what app and platform layers bind to an OS
   * layer by. Disks written before versions shared one lack it and are read as their own `id`
   * (layerIdentity): each of those OS versions was its own binding target.
   */
  layer: z.string().min(1).optional(),
  /**
   * OS layers: the identities older versions of this OS layer had before they shared one (their
   * `id`s), so app layers bound to any of them compose with this version.
   */
  formerIds: z.array(z.string().min(1)).optional(),
  /**
   * The OS layer an app or platform layer is bound to (its layerIdentity), and the OS version it was
   * made on; absent for OS layers. Any version of that OS layer composes with it.
   */
  os: z
    .object({ id: z.string().min(1), name: z.string().min(1), version: z.string().min(1).optional() })
    .optional(),
  creationSequence: z.number().int().nonnegative(),
  createdAt: z.string().datetime(),
  /** SHA-256 of the layer's content as written (paths, metadata and bytes, in order). */
  contentHash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type LayerMetadata = z.infer<typeof LayerMetadata>;

/** What a layer's versions share; a disk from before OS layer versions is its own layer. */
export function layerIdentity(metadata: LayerMetadata): string {
  return metadata.layer ?? metadata.id;
}

/** The binding an app or platform layer made on this OS layer version records. */
export function osBinding(os: LayerMetadata): NonNullable<LayerMetadata['os']> {
  return { id: layerIdentity(os), name: os.name, version: os.version };
}

/** Whether `layer` (app or platform) is bound to the OS layer `os` is a version of. */
export function isBoundTo(layer: LayerMetadata, os: LayerMetadata): boolean {
  const bound = layer.os?.id;
  return bound !== undefined && (bound === layerIdentity(os) || (os.formerIds ?? []).includes(bound));
}

/** `\.lamina\deletions.json`: Windows paths this layer removes from lower layers. */
export const LayerDeletions = z.array(z.string().min(1));

export const METADATA_DIR = '\\.lamina';
export const METADATA_FILES = {
  layer: `${METADATA_DIR}\\layer.json`,
  deletions: `${METADATA_DIR}\\deletions.json`,
  registry: `${METADATA_DIR}\\registry.reg`,
  scripts: `${METADATA_DIR}\\scripts`,
} as const;
