import type { PoolClient } from 'pg';
import type { LayerType } from '../domain/layers';
import type { ListDefinition, Queryable } from './list-page';

/**
 * Image templates as stored: the row and its app-version list. Priority is the versions' creation
 * order, so the list keeps no position.
 */
export interface TemplateRecord {
  name: string;
  description: string;
  osVersionId: string;
  platformVersionId: string | null;
  appVersionIds: string[];
  connectorId: string;
  diskSizeGb: number;
  diskFormat: string;
  firmware: string;
  elasticLayering: string;
  userLayer: string;
  sysprep: string;
}

/** What checking a template needs to know of a layer version it names. */
export interface VersionFacts {
  id: string;
  state: string;
  version: string;
  layerId: string;
  layerName: string;
  layerType: LayerType;
  osLayerId: string | null;
  sizeBytes: string | null;
  /** OS layer versions made Deployable since migration 013: the Windows volume's size. */
  volumeBytes: number | null;
  creationSeq: number;
  /** App and platform versions: the OS version they were made on, its name and creation order. */
  madeOn: { id: string; version: string; creationSeq: number } | null;
}

export const templateList: ListDefinition<object> = {
  select: `SELECT t.id, t.name, t.description, t.os_version_id AS "osVersionId",
                  t.platform_version_id AS "platformVersionId",
                  array(SELECT a.version_id FROM image_template_app_versions a JOIN layer_versions v ON v.id = a.version_id
                         WHERE a.template_id = t.id ORDER BY v.creation_seq) AS "appVersionIds",
                  t.connector_id AS "connectorId", t.disk_size_gb AS "diskSizeGb", t.disk_format AS "diskFormat",
                  t.firmware, t.elastic_layering AS "elasticLayering", t.user_layer AS "userLayer", t.sysprep,
                  t.created_at AS "createdAt", t.updated_at AS "updatedAt"
             FROM image_templates t`,
  filters: {
    name: { column: 't.name', op: 'contains' },
    connectorId: { column: 't.connector_id', op: 'equals' },
  },
  orderBy: 'name',
};

export async function versionFacts(db: Queryable, versionIds: string[]): Promise<VersionFacts[]> {
  const { rows } = await db.query<VersionFacts>(
    `SELECT v.id, v.state, v.version, v.size_bytes AS "sizeBytes", v.volume_bytes::float8 AS "volumeBytes", l.id AS "layerId", l.name AS "layerName",
            l.type AS "layerType", l.os_layer_id AS "osLayerId", v.creation_seq::float8 AS "creationSeq",
            CASE WHEN o.id IS NULL THEN NULL
                 ELSE json_build_object('id', o.id, 'version', o.version, 'creationSeq', o.creation_seq::float8) END
              AS "madeOn"
       FROM layer_versions v JOIN layers l ON l.id = v.layer_id
       LEFT JOIN layer_versions o ON o.id = v.os_version_id
      WHERE v.id = ANY ($1::uuid[])`,
    [versionIds],
  );
  return rows;
}

/** Locks the layer versions a template names (FOR SHARE), so none can be deleted until the transaction ends. */
export async function lockTemplateVersions(db: PoolClient, t: TemplateRecord): Promise<void> {
  await db.query('SELECT 1 FROM layer_versions WHERE id = ANY ($1::uuid[]) FOR SHARE', [
    [t.osVersionId, t.platformVersionId, ...t.appVersionIds].filter(Boolean),
  ]);
}

/** Locks a template's row (FOR UPDATE) for an edit in this transaction. */
export async function lockTemplate(db: PoolClient, id: string): Promise<void> {
  await db.query('SELECT 1 FROM image_templates WHERE id = $1 FOR UPDATE', [id]);
}

export function insertTemplate(db: PoolClient, id: string, t: TemplateRecord): Promise<void> {
  return writeTemplate(db, id, t, true);
}

export function updateTemplate(db: PoolClient, id: string, t: TemplateRecord): Promise<void> {
  return writeTemplate(db, id, t, false);
}

/** Writes a template's row and replaces its app-version list. */
async function writeTemplate(db: PoolClient, id: string, t: TemplateRecord, insert: boolean): Promise<void> {
  const values = [
    id,
    t.name,
    t.description,
    t.osVersionId,
    t.platformVersionId,
    t.connectorId,
    t.diskSizeGb,
    t.diskFormat,
    t.firmware,
    t.elasticLayering,
    t.userLayer,
    t.sysprep,
  ];
  await db.query(
    insert
      ? `INSERT INTO image_templates (id, name, description, os_version_id, platform_version_id, connector_id,
           disk_size_gb, disk_format, firmware, elastic_layering, user_layer, sysprep)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
      : `UPDATE image_templates SET name = $2, description = $3, os_version_id = $4, platform_version_id = $5,
           connector_id = $6, disk_size_gb = $7, disk_format = $8, firmware = $9, elastic_layering = $10,
           user_layer = $11, sysprep = $12, updated_at = now() WHERE id = $1`,
    values,
  );
  await db.query('DELETE FROM image_template_app_versions WHERE template_id = $1', [id]);
  await db.query(
    'INSERT INTO image_template_app_versions (template_id, version_id) SELECT $1, unnest($2::uuid[])',
    [id, t.appVersionIds],
  );
}

/** False when there was no such template; published images keep their snapshot. */
export async function deleteTemplate(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM image_templates WHERE id = $1', [id]);
  return rowCount !== 0;
}
