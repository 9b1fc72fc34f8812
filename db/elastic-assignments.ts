import type { RecordTable } from './crud';
import type { Queryable } from './list-page';

/**
 * Elastic layer assignments: an app layer version delivered at logon to users, groups or machines.
 * `principals` are the users and groups with the SIDs the directory gave when the assignment was saved.
 */
export const elasticAssignmentRecords: RecordTable<
  'layerVersionId' | 'users' | 'groups' | 'machinePatterns' | 'principals'
> = {
  table: 'elastic_assignments',
  view: {
    select: `SELECT id, layer_version_id AS "layerVersionId", users, groups, machine_patterns AS "machinePatterns",
                    principals, created_at AS "createdAt", updated_at AS "updatedAt" FROM elastic_assignments`,
    filters: {
      layerVersionId: { column: 'layer_version_id', op: 'equals' },
      user: { column: 'users', op: 'has' },
      group: { column: 'groups', op: 'has' },
    },
    orderBy: '"createdAt"',
  },
  columns: {
    layerVersionId: 'layer_version_id',
    users: 'users',
    groups: 'groups',
    machinePatterns: 'machine_patterns',
    principals: 'principals',
  },
};

export interface AssignableVersion {
  type: string;
  state: string;
  elasticFit: string | null;
  elasticFitReasons: { rule: string; detail: string }[];
}

/** The layer type, state and elastic-fit verdict of the version an assignment names; undefined when there is none. */
export async function assignableVersion(
  db: Queryable,
  versionId: string,
): Promise<AssignableVersion | undefined> {
  const { rows } = await db.query<AssignableVersion>(
    `SELECT l.type, v.state, v.elastic_fit AS "elasticFit", v.elastic_fit_reasons AS "elasticFitReasons"
       FROM layer_versions v JOIN layers l ON l.id = v.layer_id WHERE v.id = $1`,
    [versionId],
  );
  return rows[0];
}

/** An assigned layer version as a sync delivers it. */
export interface AssignedLayer {
  id: string;
  layerId: string;
  name: string;
  version: string;
  creationSequence: number;
  sizeBytes: number;
  sha256: string;
  diskPath: string;
}

export interface StoredAssignment {
  layerVersionId: string;
  principals: { name: string; kind: 'user' | 'group'; sid: string }[];
  machinePatterns: string[];
}

/**
 * Every assignment and the layer versions they name, for an elastic sync. A version that is no longer
 * Deployable (or lost its disk) is not delivered: `undeliverable` names it.
 */
export async function elasticAssignmentsToDeliver(db: Queryable): Promise<{
  layers: AssignedLayer[];
  assignments: StoredAssignment[];
  undeliverable: { id: string; name: string; version: string; state: string }[];
}> {
  const { rows } = await db.query<
    AssignedLayer & { state: string; diskPath: string | null; sha256: string | null } & StoredAssignment
  >(
    `SELECT e.layer_version_id AS "layerVersionId", e.principals, e.machine_patterns AS "machinePatterns",
            v.id, v.layer_id AS "layerId", l.name, v.version, v.creation_seq::float8 AS "creationSequence",
            v.size_bytes::float8 AS "sizeBytes", v.sha256, v.disk_path AS "diskPath", v.state
       FROM elastic_assignments e
       JOIN layer_versions v ON v.id = e.layer_version_id
       JOIN layers l ON l.id = v.layer_id
      ORDER BY v.creation_seq, e.created_at`,
  );
  const layers = new Map<string, AssignedLayer>();
  const undeliverable = new Map<string, { id: string; name: string; version: string; state: string }>();
  const assignments: StoredAssignment[] = [];
  for (const row of rows) {
    if (row.state !== 'Deployable' || !row.diskPath || !row.sha256) {
      undeliverable.set(row.id, { id: row.id, name: row.name, version: row.version, state: row.state });
      continue;
    }
    const { id, layerId, name, version, creationSequence, sizeBytes, sha256, diskPath } = row;
    layers.set(id, { id, layerId, name, version, creationSequence, sizeBytes, sha256, diskPath });
    assignments.push({
      layerVersionId: row.layerVersionId,
      principals: row.principals.map(({ name: n, kind, sid }) => ({ name: n, kind, sid })),
      machinePatterns: row.machinePatterns,
    });
  }
  return { layers: [...layers.values()], assignments, undeliverable: [...undeliverable.values()] };
}
