import type { Pool } from 'pg';
import type { Firmware } from '../domain/firmware';
import type { ImageFormat } from '../domain/image-formats';
import type { LayerType } from '../domain/layers';
import { getVersion, type VersionRow } from './layer-versions';

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
    TemplateSnapshot & { osVersionId: string; platformVersionId: string | null }
  >(
    `SELECT id, name, disk_size_gb AS "diskSizeGb", disk_format AS "diskFormat", firmware,
            connector_id AS "connectorId", os_version_id AS "osVersionId", platform_version_id AS "platformVersionId"
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
  if (problems.length > 0 || !os) throw new PublishPlanError(problems);
  return {
    template,
    connector: connectors[0],
    os,
    platform,
    apps: apps.filter((a): a is PlannedLayer => a !== undefined),
  };
}
