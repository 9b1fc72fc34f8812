import type { LayerType } from '../domain/layers';
import type { Queryable } from './list-page';

/**
 * Layer versions moved between appliances (export/import, reference architecture "Dual Appliance
 * Model"). Layers and versions keep their ids across appliances, so a second import of the same
 * export finds what the first one made.
 */
export interface TransferVersion {
  versionId: string;
  layerId: string;
  layerName: string;
  type: LayerType;
  layerDescription: string;
  /** The OS layer an app or platform layer is bound to (its identity, not one of its versions). */
  osLayerId: string | null;
  osLayerName: string | null;
  version: string;
  description: string;
  /** The OS layer version an app or platform version was built on. */
  osVersionId: string | null;
  creationSequence: number;
  sizeBytes: number;
  sha256: string;
  elasticFit: 'fit' | 'not_recommended' | 'unfit' | null;
  elasticFitReasons: { rule: string; detail: string }[];
  /** First-start scripts, as paths under `\\.lamina\\scripts` of the disk. */
  scripts: string[];
}

const SELECT_TRANSFER = `
  SELECT v.id AS "versionId", l.id AS "layerId", l.name AS "layerName", l.type, l.description AS "layerDescription",
         l.os_layer_id AS "osLayerId", o.name AS "osLayerName", v.version, v.description,
         v.os_version_id AS "osVersionId", v.creation_seq::float8 AS "creationSequence",
         v.size_bytes::float8 AS "sizeBytes", v.sha256, v.elastic_fit AS "elasticFit",
         v.elastic_fit_reasons AS "elasticFitReasons", v.scripts, v.state, v.disk_path AS "diskPath"
    FROM layer_versions v JOIN layers l ON l.id = v.layer_id LEFT JOIN layers o ON o.id = l.os_layer_id`;

/** The versions to export with their disks, OS layers first, then in creation order. */
export async function versionsToExport(
  db: Queryable,
  ids: string[],
): Promise<(TransferVersion & { state: string; diskPath: string | null })[]> {
  const { rows } = await db.query<TransferVersion & { state: string; diskPath: string | null }>(
    `${SELECT_TRANSFER} WHERE v.id = ANY ($1::uuid[]) ORDER BY (l.type = 'os') DESC, v.creation_seq`,
    [ids],
  );
  return rows;
}

/** What this appliance already has of the given layers (and the OS layers they are bound to) and versions, by id and by name. */
export async function localCounterparts(
  db: Queryable,
  versions: {
    versionId: string;
    layerId: string;
    layerName: string;
    version: string;
    osLayerId: string | null;
  }[],
) {
  const layerIds = versions.flatMap((v) => [v.layerId, ...(v.osLayerId ? [v.osLayerId] : [])]);
  const layers = await db.query<{ id: string; name: string; type: LayerType; osLayerId: string | null }>(
    `SELECT id, name, type, os_layer_id AS "osLayerId" FROM layers WHERE id = ANY ($1::uuid[]) OR name = ANY ($2::text[])`,
    [layerIds, versions.map((v) => v.layerName)],
  );
  const existing = await db.query<{
    id: string;
    layerId: string;
    version: string;
    sha256: string | null;
    state: string;
  }>(
    `SELECT id, layer_id AS "layerId", version, sha256, state FROM layer_versions
      WHERE id = ANY ($1::uuid[]) OR layer_id = ANY ($2::uuid[])`,
    [versions.map((v) => v.versionId), versions.map((v) => v.layerId)],
  );
  return { layers: layers.rows, versions: existing.rows };
}

/** Records a layer of the export this appliance does not have, under the exporter's id. Run again, it changes nothing. */
export async function recordImportedLayer(db: Queryable, v: TransferVersion): Promise<void> {
  await db.query(
    `INSERT INTO layers (id, type, name, description, os_layer_id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING`,
    [v.layerId, v.type, v.layerName, v.layerDescription, v.osLayerId],
  );
}

/**
 * Records an imported version, Deployable with its disk, under the exporter's id. Its creation sequence
 * is this appliance's next one: imported in the export's order, versions keep their priority order.
 * Run again, it changes nothing.
 */
export async function recordImportedVersion(
  db: Queryable,
  v: TransferVersion & { diskPath: string },
): Promise<void> {
  await db.query(
    `INSERT INTO layer_versions (id, layer_id, version, description, state, os_version_id, disk_path, size_bytes,
                                 sha256, elastic_fit, elastic_fit_reasons, scripts)
     VALUES ($1, $2, $3, $4, 'Deployable', $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
    [
      v.versionId,
      v.layerId,
      v.version,
      v.description,
      v.osVersionId,
      v.diskPath,
      v.sizeBytes,
      v.sha256,
      v.elasticFit,
      JSON.stringify(v.elasticFitReasons),
      JSON.stringify(v.scripts),
    ],
  );
}

/** Compensation of an import's version. */
export async function forgetImportedVersion(db: Queryable, versionId: string): Promise<void> {
  await db.query('DELETE FROM layer_versions WHERE id = $1', [versionId]);
}

/** Compensation of an import's new layer: removed once none of its versions and no layer bound to it is left. */
export async function forgetImportedLayer(db: Queryable, layerId: string): Promise<void> {
  await db.query(
    `DELETE FROM layers l WHERE l.id = $1
        AND NOT EXISTS (SELECT 1 FROM layer_versions v WHERE v.layer_id = l.id)
        AND NOT EXISTS (SELECT 1 FROM layers b WHERE b.os_layer_id = l.id)`,
    [layerId],
  );
}
