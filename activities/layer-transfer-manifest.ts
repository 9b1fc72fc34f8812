import { z } from 'zod';
import { LAYER_TYPES } from '../domain/layers';

/**
 * The manifest of a layer export (`manifest.json` in the export folder, written last: an export
 * without it is incomplete). One entry per layer version, OS layers first, then in creation order;
 * each names its disk file beside the manifest and the disk's size and SHA-256.
 */
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'lamina-layer-export/1';

export const transferManifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  versions: z
    .array(
      z.object({
        versionId: z.uuid(),
        layerId: z.uuid(),
        layerName: z.string().min(1).max(128),
        type: z.enum(LAYER_TYPES),
        layerDescription: z.string().max(2000),
        osLayerId: z.uuid().nullable().describe('The OS layer an app or platform layer is bound to'),
        osLayerName: z.string().nullable(),
        version: z.string().min(1).max(128),
        description: z.string().max(2000),
        osVersionId: z.uuid().nullable().describe('The OS layer version the version was built on'),
        creationSequence: z.number().int().positive().describe('Priority order on the exporting appliance'),
        sizeBytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        elasticFit: z
          .enum(['fit', 'not_recommended', 'unfit'])
          .nullable()
          .describe('Captured versions: the verdict'),
        elasticFitReasons: z.array(z.object({ rule: z.string(), detail: z.string() })),
        scripts: z.array(z.string()).describe('First-start scripts, as paths under \\.lamina\\scripts'),
        file: z.string().regex(/^[0-9a-f-]{36}\.vhdx$/),
      }),
    )
    .min(1),
});
export type TransferManifest = z.infer<typeof transferManifest>;
export type ManifestEntry = TransferManifest['versions'][number];

/**
 * An export or import that cannot go ahead as asked (a version not Deployable, a folder that already
 * holds an export, a manifest or file that does not check out, a layer bound to an OS layer that is
 * nowhere): retrying does not change it, the message names what to fix.
 */
export class LayerTransferError extends Error {}
