import type { Pool } from 'pg';
import type { ElasticFit, LayerType, VersionState } from '../domain/layers';

/**
 * Layer versions as the workflows write them (ARCHITECTURE.md §3). Every write is keyed by the
 * version id the workflow chose, so a retried activity updates its own row instead of adding one.
 */
export interface VersionRow {
  id: string;
  layerId: string;
  layerName: string;
  layerType: LayerType;
  version: string;
  state: VersionState;
  creationSeq: number;
  diskPath: string | null;
  osVersionId: string | null;
  sizeBytes: number | null;
  sha256: string | null;
}

const SELECT_VERSION = `
  SELECT v.id, v.layer_id AS "layerId", l.name AS "layerName", l.type AS "layerType", v.version,
         v.state, v.creation_seq::float8 AS "creationSeq", v.disk_path AS "diskPath",
         v.os_version_id AS "osVersionId", v.size_bytes::float8 AS "sizeBytes", v.sha256
    FROM layer_versions v JOIN layers l ON l.id = v.layer_id`;

export async function getVersion(pool: Pool, id: string): Promise<VersionRow | undefined> {
  const { rows } = await pool.query<VersionRow>(`${SELECT_VERSION} WHERE v.id = $1`, [id]);
  return rows[0];
}

/** A layer's Deployable versions, oldest first: what a new version of it is built on. */
export async function deployableVersions(pool: Pool, layerId: string): Promise<VersionRow[]> {
  const { rows } = await pool.query<VersionRow>(
    `${SELECT_VERSION} WHERE v.layer_id = $1 AND v.state = 'Deployable' ORDER BY v.creation_seq`,
    [layerId],
  );
  return rows;
}

/** The newest Deployable version of a layer: what a new version is built on when none is named. */
export async function latestDeployableVersion(pool: Pool, layerId: string): Promise<VersionRow | undefined> {
  const { rows } = await pool.query<VersionRow>(
    `${SELECT_VERSION} WHERE v.layer_id = $1 AND v.state = 'Deployable' ORDER BY v.creation_seq DESC LIMIT 1`,
    [layerId],
  );
  return rows[0];
}

export interface NewVersion {
  id: string;
  layerId: string;
  version: string;
  description?: string;
  osVersionId?: string;
  /** The version whose content the new one starts from (a packaging machine's previous version). */
  basedOnVersionId?: string;
  taskId: string;
}

/** Creates the version in state Creating, or returns the row an earlier attempt created. */
export async function createVersion(pool: Pool, v: NewVersion): Promise<VersionRow> {
  await pool.query(
    `INSERT INTO layer_versions (id, layer_id, version, description, os_version_id, based_on_version_id, task_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
    [
      v.id,
      v.layerId,
      v.version,
      v.description ?? '',
      v.osVersionId ?? null,
      v.basedOnVersionId ?? null,
      v.taskId,
    ],
  );
  const row = await getVersion(pool, v.id);
  if (!row) throw new Error(`layer version ${v.id} vanished right after it was created`);
  return row;
}

export async function setVersionState(
  pool: Pool,
  id: string,
  state: VersionState,
  action: unknown = null,
): Promise<void> {
  await pool.query(`UPDATE layer_versions SET state = $2, action = $3, updated_at = now() WHERE id = $1`, [
    id,
    state,
    action === null ? null : JSON.stringify(action),
  ]);
}

export interface DeployableDisk {
  diskPath: string;
  sizeBytes: number;
  sha256: string;
  /** The layer's first-start scripts, as paths under `\.lamina\scripts`. */
  scripts?: string[];
  /** Captured versions: the elastic-fit verdict and its reasons. */
  elasticFit?: ElasticFit;
  /** OS layer versions: the size of the Windows volume, which a template's disk must leave room for. */
  volumeBytes?: number;
}

export async function markDeployable(pool: Pool, id: string, disk: DeployableDisk): Promise<void> {
  await pool.query(
    `UPDATE layer_versions
        SET state = 'Deployable', action = NULL, disk_path = $2, size_bytes = $3, sha256 = $4,
            scripts = $5, elastic_fit = $6, elastic_fit_reasons = $7, volume_bytes = $8, updated_at = now()
      WHERE id = $1`,
    [
      id,
      disk.diskPath,
      disk.sizeBytes,
      disk.sha256,
      JSON.stringify(disk.scripts ?? []),
      disk.elasticFit?.verdict ?? null,
      JSON.stringify(disk.elasticFit?.reasons ?? []),
      disk.volumeBytes ?? null,
    ],
  );
}

/**
 * The compensation of createVersion: a cancelled or failed task leaves no version behind, not even one
 * it had just made Deployable (its disk goes with it).
 */
export async function deleteVersion(pool: Pool, id: string): Promise<void> {
  await pool.query(`DELETE FROM layer_versions WHERE id = $1`, [id]);
}
