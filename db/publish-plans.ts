import type { Pool } from 'pg';
import type { Firmware } from '../domain/firmware';
import { userLayerModeOf, type ElasticLayeringMode, type ImageSettings } from '../domain/image-settings';
import type { ImageFormat } from '../domain/image-formats';
import type { LayerType } from '../domain/layers';
import type { UserLayerMode } from '../domain/user-layers';
import { getVersion, type VersionRow } from './layer-versions';
import type { Queryable } from './list-page';
import { locationsByPriority } from './storage-locations';

/**
 * What publishing a template needs, read once at the start of the publish task: the template's
 * settings, its layer versions with their disks, and the connector. Published images keep this as
 * their snapshot, so editing the template later never changes them.
 */
export interface TemplateSnapshot {
  id: string;
  name: string;
  diskSizeGb: number;
  diskFormat: ImageFormat;
  firmware: Firmware;
  connectorId: string;
  /** Absent in plans loaded before templates' layering options reached the image. */
  elasticLayering?: ElasticLayeringMode;
  userLayer?: UserLayerMode;
}

export interface PlannedLayer {
  versionId: string;
  layer: string;
  type: LayerType;
  version: string;
  diskPath: string;
  sha256: string | null;
}

export interface PublishPlan {
  template: TemplateSnapshot;
  connector: { id: string; name: string; type: string };
  os: PlannedLayer;
  platform?: PlannedLayer;
  apps: PlannedLayer[];
  /** What the template's elastic layering and user-layer options put into the image; absent when they are off. */
  settings?: ImageSettings;
}

export class PublishPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PublishPlanError';
  }
}

/** The template itself is missing (a 404 in the API), as opposed to one that exists but cannot publish. */
export class TemplateNotFoundError extends PublishPlanError {
  constructor(templateId: string) {
    super([`image template ${templateId} does not exist`]);
    this.name = 'TemplateNotFoundError';
  }
}

/** Reads the template and checks every layer version is Deployable; throws PublishPlanError listing every problem. */
export async function loadPublishPlan(pool: Pool, templateId: string): Promise<PublishPlan> {
  const { rows } = await pool.query<
    Required<TemplateSnapshot> & { osVersionId: string; platformVersionId: string | null }
  >(
    `SELECT id, name, disk_size_gb AS "diskSizeGb", disk_format AS "diskFormat", firmware,
            connector_id AS "connectorId", elastic_layering AS "elasticLayering", user_layer AS "userLayer",
            os_version_id AS "osVersionId", platform_version_id AS "platformVersionId"
       FROM image_templates WHERE id = $1`,
    [templateId],
  );
  const row = rows[0];
  if (!row) throw new TemplateNotFoundError(templateId);
  const { osVersionId, platformVersionId, ...template } = row;
  const { rows: appIds } = await pool.query<{ id: string }>(
    'SELECT version_id AS id FROM image_template_app_versions WHERE template_id = $1',
    [templateId],
  );
  const { rows: connectors } = await pool.query<{ id: string; name: string; type: string }>(
    'SELECT id, name, type FROM connectors WHERE id = $1',
    [template.connectorId],
  );

  const problems: string[] = [];
  const plan = async (id: string): Promise<PlannedLayer | undefined> => {
    const v: VersionRow | undefined = await getVersion(pool, id);
    if (!v) {
      problems.push(`layer version ${id} does not exist`);
      return undefined;
    }
    if (v.state !== 'Deployable' || !v.diskPath) {
      problems.push(`layer '${v.layerName}' version ${v.version} is ${v.state}, not Deployable`);
      return undefined;
    }
    return {
      versionId: v.id,
      layer: v.layerName,
      type: v.layerType,
      version: v.version,
      diskPath: v.diskPath,
      sha256: v.sha256,
    };
  };
  const os = await plan(osVersionId);
  const platform = platformVersionId ? await plan(platformVersionId) : undefined;
  const apps = [];
  for (const { id } of appIds) apps.push(await plan(id));
  if (!connectors[0]) problems.push(`connector ${template.connectorId} does not exist`);
  const settings = await imageSettingsOf(pool, template, problems);
  if (problems.length > 0 || !os) throw new PublishPlanError(problems);
  return {
    template,
    connector: connectors[0],
    os,
    platform,
    apps: apps.filter((a): a is PlannedLayer => a !== undefined),
    ...(settings ? { settings } : {}),
  };
}

/**
 * The image-side settings of the template's layering options, from the system's elastic layer share
 * and user-layer storage locations; what is missing for them goes to `problems`. More than one share
 * are replicas: the image names the first by name (desktops can be pointed at another by policy).
 * A location's groups are the SIDs the directory gave when it was saved (names for locations saved
 * before they were looked up).
 */
async function imageSettingsOf(
  db: Queryable,
  template: Required<Pick<TemplateSnapshot, 'elasticLayering' | 'userLayer'>>,
  problems: string[],
): Promise<ImageSettings | undefined> {
  const settings: ImageSettings = {};
  if (template.elasticLayering !== 'none') {
    const { rows } = await db.query<{ sharePath: string }>(
      'SELECT share_path AS "sharePath" FROM elastic_shares ORDER BY name LIMIT 1',
    );
    if (rows[0]) settings.elasticShare = rows[0].sharePath;
    else problems.push('elastic layering needs an elastic layer share (System > Settings)');
  }
  const mode = userLayerModeOf(template);
  if (mode !== 'none') {
    const locations = await locationsByPriority(db);
    if (locations.length === 0)
      problems.push('user layers need at least one storage location (System > Storage Locations)');
    settings.userLayer = {
      mode,
      locations: locations.map((l) => ({
        sharePath: l.sharePath,
        groups: l.principals.length > 0 ? l.principals.map((p) => p.sid) : l.adGroups,
      })),
    };
  }
  return settings.elasticShare || settings.userLayer ? settings : undefined;
}
