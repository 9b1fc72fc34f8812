import type { RecordTable } from './crud';
import type { Queryable } from './list-page';

/** Elastic layer assignments: an app layer version delivered at logon to users, groups or machines. */
export const elasticAssignmentRecords: RecordTable<
  'layerVersionId' | 'users' | 'groups' | 'machinePatterns'
> = {
  table: 'elastic_assignments',
  view: {
    select: `SELECT id, layer_version_id AS "layerVersionId", users, groups, machine_patterns AS "machinePatterns",
                    created_at AS "createdAt", updated_at AS "updatedAt" FROM elastic_assignments`,
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
  },
};

/** The layer type and state of the version an assignment names, or undefined when there is no such version. */
export async function assignableVersion(
  db: Queryable,
  versionId: string,
): Promise<{ type: string; state: string } | undefined> {
  const { rows } = await db.query<{ type: string; state: string }>(
    'SELECT l.type, v.state FROM layer_versions v JOIN layers l ON l.id = v.layer_id WHERE v.id = $1',
    [versionId],
  );
  return rows[0];
}
