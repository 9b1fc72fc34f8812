import { z } from 'zod';
import type { ConnectorDescriptor } from '../../connectors/connector-type';
import { CONNECTOR_TYPES, CONNECTOR_TYPE_NAMES } from '../../connectors/registry';
import { displayName } from '../validation';

const secretValue = z.string().min(1).max(4096);

/** The write-only secret fields of a type: each may be given to set it. */
function secretsOf(definition: ConnectorDescriptor) {
  return z.strictObject(Object.fromEntries(definition.secretFields.map((f) => [f, secretValue.optional()])));
}

/** On edit, a secret given as a string replaces it, null clears it, and an absent one stays as it is. */
export function secretsPatchOf(definition: ConnectorDescriptor) {
  return z.strictObject(
    Object.fromEntries(definition.secretFields.map((f) => [f, secretValue.nullable().optional()])),
  );
}

const options = {
  offloadCompositing: z
    .boolean()
    .default(false)
    .describe(
      "Compose, and prepare Image Portability disks (Azure: prepare only), on a Compositing Engine on the connector's platform",
    ),
  packagingCacheGb: z
    .number()
    .int()
    .min(0)
    .max(65536)
    .optional()
    .describe("Packaging cache size in GB, 0 = off; the type's recommended size when unset"),
  postPublishScript: z.string().max(65536).optional().describe('PowerShell run after an image is published'),
};

/** Azure has no packaging cache (reference: "all hypervisors except Azure"). */
function cacheFits(definition: ConnectorDescriptor) {
  return (gb: number | undefined) => definition.defaultPackagingCacheGb !== undefined || !gb;
}
const NO_CACHE = 'this connector type has no packaging cache; leave it 0';

/** One body schema per connector type, told apart by `type`, so each type's settings are checked as such. */
export const createConnectorBody = z.discriminatedUnion(
  'type',
  CONNECTOR_TYPE_NAMES.map((type) => {
    const definition = CONNECTOR_TYPES[type];
    return z
      .object({
        type: z.literal(type),
        name: displayName,
        settings: definition.settings,
        secrets: secretsOf(definition).default({}),
        ...options,
      })
      .refine((b) => cacheFits(definition)(b.packagingCacheGb), {
        message: NO_CACHE,
        path: ['packagingCacheGb'],
      });
  }) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

/** Editable fields; `settings` is replaced as a whole and validated against the connector's own type. */
export const updateConnectorBody = z.object({
  name: displayName.optional(),
  settings: z.record(z.string(), z.unknown()).optional(),
  secrets: z.record(z.string(), secretValue.nullable()).optional(),
  offloadCompositing: z.boolean().optional(),
  packagingCacheGb: options.packagingCacheGb,
  postPublishScript: z.string().max(65536).nullable().optional(),
});

/** The per-type check of an edit, reported under `body.settings.…` / `body.secrets.…`. */
export function typedPatchOf(definition: ConnectorDescriptor) {
  return z.object({
    settings: definition.settings.optional(),
    secrets: secretsPatchOf(definition).optional(),
    packagingCacheGb: z.number().optional().refine(cacheFits(definition), { message: NO_CACHE }),
  });
}
