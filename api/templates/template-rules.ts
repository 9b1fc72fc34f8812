import { z } from 'zod';
import { CONNECTOR_TYPES, type ConnectorType } from '../../connectors/registry';
import { connectorTypeAndName } from '../../db/connectors';
import type { Queryable } from '../../db/list-page';
import { versionFacts, type VersionFacts } from '../../db/templates';
import { planDisk, windowsPartition } from '../../compositor/disk-layout';
import { DISK_FIRMWARE, FIRMWARES } from '../../domain/firmware';
import { ELASTIC_LAYERING_MODES } from '../../domain/image-settings';
import { IMAGE_FORMAT_MAX_GB, IMAGE_FORMATS } from '../../domain/image-formats';
import { USER_LAYER_MODES } from '../../domain/user-layers';
import { refuseConnectorNotInBuild } from '../connectors/not-in-build';
import { description, fileSafeName } from '../validation';

export const templateFields = z.object({
  name: fileSafeName,
  description,
  osVersionId: z.uuid(),
  platformVersionId: z.uuid().nullable().default(null),
  appVersionIds: z
    .array(z.uuid())
    .max(500)
    .default([])
    .refine((ids) => new Set(ids).size === ids.length, 'lists a version twice'),
  connectorId: z.uuid(),
  diskSizeGb: z.number().int().min(1).max(65536),
  diskFormat: z.enum(IMAGE_FORMATS),
  firmware: z.enum(FIRMWARES).describe('BIOS = Generation 1 (MBR), UEFI = Generation 2 (GPT)'),
  elasticLayering: z
    .enum(ELASTIC_LAYERING_MODES)
    .default('none')
    .describe(
      'Elastic layers at logon; images name the elastic layer share (System > Settings). app_and_user: with Full user layers when userLayer is none',
    ),
  userLayer: z
    .enum(USER_LAYER_MODES)
    .default('none')
    .describe(
      'User layers of the images: Full, Office 365 or Session Office 365, on the storage locations (System > Storage Locations)',
    ),
  sysprep: z.enum(['none', 'generalize', 'generalize_offline']).default('generalize'),
});
export type TemplateFields = z.output<typeof templateFields>;

export interface FieldError {
  field: string;
  message: string;
}

/**
 * Checks a template against the rest of the domain: every layer version exists and is Deployable, each
 * is of the right kind, the platform and app layers are bound to the template's OS layer, at most one
 * version per app layer, and the disk's size, format and firmware fit the connector.
 */
export async function templateErrors(db: Queryable, t: TemplateFields): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  const ids = [t.osVersionId, ...(t.platformVersionId ? [t.platformVersionId] : []), ...t.appVersionIds];
  const byId = new Map((await versionFacts(db, ids)).map((r) => [r.id, r]));

  const check = (field: string, id: string, type: VersionFacts['layerType']): VersionFacts | undefined => {
    const v = byId.get(id);
    if (!v) return void errors.push({ field, message: 'no layer version has this id' });
    const label = `${v.layerName} ${v.version}`;
    if (v.layerType !== type)
      errors.push({ field, message: `${label} is a version of an ${v.layerType} layer, not ${type}` });
    else if (v.state !== 'Deployable')
      errors.push({ field, message: `${label} is ${v.state}, not Deployable` });
    return v;
  };

  const os = check('body.osVersionId', t.osVersionId, 'os');
  const osLayerId = os?.layerType === 'os' ? os.layerId : undefined;
  const boundElsewhere = (v: VersionFacts | undefined) =>
    v && osLayerId && v.layerType !== 'os' && v.osLayerId !== osLayerId;
  if (t.platformVersionId) {
    const platform = check('body.platformVersionId', t.platformVersionId, 'platform');
    if (boundElsewhere(platform)) {
      errors.push({
        field: 'body.platformVersionId',
        message: `${platform!.layerName} is bound to another OS layer`,
      });
    }
  }
  const appLayers = new Set<string>();
  t.appVersionIds.forEach((id, index) => {
    const field = `body.appVersionIds.${index}`;
    const app = check(field, id, 'app');
    if (boundElsewhere(app))
      errors.push({ field, message: `${app!.layerName} is bound to another OS layer` });
    if (app && appLayers.has(app.layerId)) {
      errors.push({ field, message: `${app.layerName} is already in the template with another version` });
    }
    if (app) appLayers.add(app.layerId);
  });

  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  // The OS volume is cloned whole into the image's Windows partition, as compose checks too; the
  // layer disk's file size says nothing of it (a dynamic disk stores only what the volume uses).
  const windowsBytes = windowsPartition(planDisk(DISK_FIRMWARE[t.firmware], t.diskSizeGb * 1024 ** 3)).size;
  if (os?.volumeBytes && os.volumeBytes > windowsBytes) {
    const needed = Math.ceil((t.diskSizeGb * 1024 ** 3 - windowsBytes + os.volumeBytes) / 1024 ** 3);
    errors.push({
      field: 'body.diskSizeGb',
      message: `the OS layer's volume is ${mib(os.volumeBytes)} MiB, larger than the ${mib(windowsBytes)} MiB Windows partition of a ${t.diskSizeGb} GB ${t.firmware} disk: it needs at least ${needed} GB`,
    });
  }
  if (t.diskSizeGb > IMAGE_FORMAT_MAX_GB[t.diskFormat]) {
    errors.push({
      field: 'body.diskSizeGb',
      message: `${t.diskFormat} disks hold at most ${IMAGE_FORMAT_MAX_GB[t.diskFormat]} GB`,
    });
  }
  errors.push(...(await connectorErrors(db, t)));
  return errors;
}

/**
 * What a template may hold but the admin should know (the reference: updating the OS layer does not
 * require new app layer versions, but the platform layer should be updated): app and platform
 * versions made on another version of the template's OS layer. Saved anyway; the response says so.
 */
export async function templateWarnings(db: Queryable, t: TemplateFields): Promise<FieldError[]> {
  const ids = [t.osVersionId, ...(t.platformVersionId ? [t.platformVersionId] : []), ...t.appVersionIds];
  const byId = new Map((await versionFacts(db, ids)).map((r) => [r.id, r]));
  const os = byId.get(t.osVersionId);
  if (!os) return [];
  const warnings: FieldError[] = [];
  const compare = (field: string, id: string, advice: string) => {
    const v = byId.get(id);
    if (!v?.madeOn || v.madeOn.id === os.id || v.osLayerId !== os.layerId) return;
    const age = v.madeOn.creationSeq < os.creationSeq ? 'an older' : 'a newer';
    warnings.push({
      field,
      message: `${v.layerName} ${v.version} was made on ${age} version of ${os.layerName} (${v.madeOn.version}) than the template's ${os.version}: ${advice}`,
    });
  };
  if (t.platformVersionId)
    compare(
      'body.platformVersionId',
      t.platformVersionId,
      'update the platform layer on this OS version (add a version to it) before publishing to production',
    );
  t.appVersionIds.forEach((id, index) =>
    compare(
      `body.appVersionIds.${index}`,
      id,
      'it composes with any version of its OS layer; test the image, and add a version to the app layer if it misbehaves',
    ),
  );
  return warnings;
}

/**
 * A template that passes templateErrors may still name a connector whose type this build cannot publish
 * with: a 422 naming the type, so no publish of it is started only to fail.
 */
export async function refuseTemplateConnectorNotInBuild(db: Queryable, t: TemplateFields): Promise<void> {
  const stored = await connectorTypeAndName<ConnectorType>(db, t.connectorId);
  if (stored) refuseConnectorNotInBuild(stored, 'body.connectorId');
}

async function connectorErrors(db: Queryable, t: TemplateFields): Promise<FieldError[]> {
  const stored = await connectorTypeAndName<ConnectorType>(db, t.connectorId);
  if (!stored) return [{ field: 'body.connectorId', message: 'no connector configuration has this id' }];
  const definition = CONNECTOR_TYPES[stored.type];
  const connector = `connector '${stored.name}' (${definition.label})`;
  const firmwares = definition.imageFormats[t.diskFormat];
  const errors: FieldError[] = [];
  if (!firmwares) {
    const formats = Object.keys(definition.imageFormats).join(', ');
    errors.push({
      field: 'body.diskFormat',
      message: `${connector} takes ${formats} disks, not ${t.diskFormat}`,
    });
  } else if (!firmwares.includes(t.firmware)) {
    errors.push({
      field: 'body.firmware',
      message: `${connector} boots ${t.diskFormat} disks with ${firmwares.join(', ')} only`,
    });
  }
  if (t.diskSizeGb > definition.maxDiskGb) {
    errors.push({
      field: 'body.diskSizeGb',
      message: `${connector} takes disks up to ${definition.maxDiskGb} GB`,
    });
  }
  return errors;
}
