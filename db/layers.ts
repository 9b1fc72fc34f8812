import type { Pool } from 'pg';
import type { LayerType } from '../domain/layers';
import type { ListDefinition, Queryable } from './list-page';
import { withTransaction } from './transaction';

/** Layers as the API records and edits them (ARCHITECTURE.md §3); their versions come from tasks. */
export interface NewLayer {
  id: string;
  type: LayerType;
  name: string;
  description: string;
  osLayerId?: string;
  connectorId?: string;
}

/** Who still uses a layer's versions, by name or id, for the API's 409. */
export interface VersionUsers {
  templates: string[];
  elasticAssignments: string[];
}

export async function findLayer(
  pool: Pool,
  id: string,
): Promise<{ name: string; type: LayerType } | undefined> {
  const { rows } = await pool.query<{ name: string; type: LayerType }>(
    'SELECT name, type FROM layers WHERE id = $1',
    [id],
  );
  return rows[0];
}

/** A layer's type and the OS layer it is bound to, for a task making a version of it. */
export async function layerBinding(
  pool: Pool,
  id: string,
): Promise<{ type: LayerType; osLayerId: string | null } | undefined> {
  const { rows } = await pool.query<{ type: LayerType; osLayerId: string | null }>(
    'SELECT type, os_layer_id AS "osLayerId" FROM layers WHERE id = $1',
    [id],
  );
  return rows[0];
}

export async function osLayerExists(pool: Pool, id: string): Promise<boolean> {
  const { rows } = await pool.query('SELECT 1 FROM layers WHERE id = $1 AND type = $2', [id, 'os']);
  return rows.length > 0;
}

export async function insertLayer(pool: Pool, layer: NewLayer): Promise<void> {
  await pool.query(
    `INSERT INTO layers (id, type, name, description, os_layer_id, connector_id) VALUES ($1, $2, $3, $4, $5, $6)`,
    [layer.id, layer.type, layer.name, layer.description, layer.osLayerId ?? null, layer.connectorId ?? null],
  );
}

/** Changes the given name and description; an absent one stays. */
export async function updateLayer(
  pool: Pool,
  id: string,
  changes: { name?: string; description?: string },
): Promise<void> {
  await pool.query(
    `UPDATE layers SET name = coalesce($2, name), description = coalesce($3, description), updated_at = now()
      WHERE id = $1`,
    [id, changes.name, changes.description],
  );
}

/** Image templates and elastic assignments that use any of the given layer versions. */
export async function versionUsers(db: Queryable, versionIds: string[]): Promise<VersionUsers> {
  const { rows } = await db.query<VersionUsers>(
    `SELECT array(SELECT t.name FROM image_templates t
                   WHERE t.os_version_id = ANY ($1::uuid[]) OR t.platform_version_id = ANY ($1::uuid[])
                      OR EXISTS (SELECT 1 FROM image_template_app_versions a
                                  WHERE a.template_id = t.id AND a.version_id = ANY ($1::uuid[]))
                   ORDER BY t.name) AS templates,
            array(SELECT e.id::text FROM elastic_assignments e
                   WHERE e.layer_version_id = ANY ($1::uuid[]) ORDER BY e.id) AS "elasticAssignments"`,
    [versionIds],
  );
  return rows[0];
}

/**
 * Deletes a layer in one transaction with the check of its users: the layer row is locked, then
 * `refuse` sees who uses its versions and which layers are bound to it, and throws to keep the layer.
 */
export async function deleteLayer(
  pool: Pool,
  id: string,
  refuse: (users: VersionUsers & { boundLayers: string[] }) => void,
): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('SELECT 1 FROM layers WHERE id = $1 FOR UPDATE', [id]);
    const versions = await client.query<{ id: string }>('SELECT id FROM layer_versions WHERE layer_id = $1', [
      id,
    ]);
    const usage = await versionUsers(
      client,
      versions.rows.map((v) => v.id),
    );
    const bound = await client.query<{ name: string }>(
      'SELECT name FROM layers WHERE os_layer_id = $1 ORDER BY name',
      [id],
    );
    refuse({ ...usage, boundLayers: bound.rows.map((r) => r.name) });
    await client.query('DELETE FROM layers WHERE id = $1', [id]);
  });
}

/** A version recorded by the API (state Creating) for a task to fill. */
export async function insertLayerVersion(
  pool: Pool,
  v: { id: string; layerId: string; version: string; description: string },
): Promise<void> {
  await pool.query(
    'INSERT INTO layer_versions (id, layer_id, version, description) VALUES ($1, $2, $3, $4)',
    [v.id, v.layerId, v.version, v.description],
  );
}

/** Changes the given version name and description; an absent one stays. */
export async function updateLayerVersion(
  pool: Pool,
  id: string,
  changes: { version?: string; description?: string },
): Promise<void> {
  await pool.query(
    `UPDATE layer_versions SET version = coalesce($2, version), description = coalesce($3, description),
            updated_at = now() WHERE id = $1`,
    [id, changes.version, changes.description],
  );
}

/** Marks a version Deleted; the row stays so published images can still name it. */
export async function markLayerVersionDeleted(pool: Pool, id: string): Promise<void> {
  await pool.query(`UPDATE layer_versions SET state = 'Deleted', updated_at = now() WHERE id = $1`, [id]);
}

export const layerList: ListDefinition<object> = {
  select: `SELECT l.id, l.type, l.name, l.description, l.os_layer_id AS "osLayerId", o.name AS "osLayerName",
                  l.connector_id AS "connectorId", l.created_at AS "createdAt", l.updated_at AS "updatedAt",
                  (SELECT count(*)::int FROM layer_versions v WHERE v.layer_id = l.id AND v.state <> 'Deleted')
                    AS "versionCount"
             FROM layers l LEFT JOIN layers o ON o.id = l.os_layer_id`,
  filters: {
    type: { column: 'l.type', op: 'equals' },
    name: { column: 'l.name', op: 'contains' },
    osLayerId: { column: 'l.os_layer_id', op: 'equals' },
  },
  orderBy: 'name',
};

export const layerVersionList: ListDefinition<object> = {
  select: `SELECT id, layer_id AS "layerId", version, description, state, creation_seq::int AS "creationSequence",
                  size_bytes::float8 AS "sizeBytes", sha256, elastic_fit AS "elasticFit",
                  elastic_fit_reasons AS "elasticFitReasons", scripts, os_version_id AS "osVersionId",
                  based_on_version_id AS "basedOnVersionId", action, task_id AS "taskId",
                  created_at AS "createdAt", updated_at AS "updatedAt"
             FROM layer_versions`,
  filters: { layerId: { column: 'layer_id', op: 'equals' }, state: { column: 'state', op: 'equals' } },
  orderBy: '"creationSequence"',
};
