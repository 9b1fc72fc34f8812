import type { RecordTable } from './crud';
import type { Queryable } from './list-page';

/**
 * User-layer storage locations: a share per AD group set; the lowest priority number wins at logon.
 * `principals` are the groups with the SIDs the directory gave when the location was saved.
 */
export const storageLocationRecords: RecordTable<
  'name' | 'sharePath' | 'adGroups' | 'priority' | 'principals'
> = {
  table: 'storage_locations',
  view: {
    select: `SELECT id, name, share_path AS "sharePath", ad_groups AS "adGroups", priority, principals,
                    created_at AS "createdAt", updated_at AS "updatedAt" FROM storage_locations`,
    filters: { name: { column: 'name', op: 'contains' }, adGroup: { column: 'ad_groups', op: 'has' } },
    orderBy: 'priority',
  },
  columns: {
    name: 'name',
    sharePath: 'share_path',
    adGroups: 'ad_groups',
    priority: 'priority',
    principals: 'principals',
  },
};

export interface StoredLocation {
  id: string;
  name: string;
  sharePath: string;
  adGroups: string[];
  priority: number;
  /** Empty for locations saved before their groups were looked up. */
  principals: { name: string; sid: string; dn: string }[];
}

/** Every storage location, the one that wins first (lowest priority number). */
export async function locationsByPriority(db: Queryable): Promise<StoredLocation[]> {
  const { rows } = await db.query<StoredLocation>(
    `SELECT id, name, share_path AS "sharePath", ad_groups AS "adGroups", priority, principals
       FROM storage_locations ORDER BY priority`,
  );
  return rows;
}

/** An OS layer by its name (compared without case, as the console shows names) or id. */
export async function osLayerNamed(
  db: Queryable,
  nameOrId: string,
): Promise<{ id: string; name: string } | undefined> {
  const { rows } = await db.query<{ id: string; name: string }>(
    `SELECT id, name FROM layers WHERE type = 'os' AND (lower(name) = lower($1) OR id::text = $1) ORDER BY name LIMIT 1`,
    [nameOrId],
  );
  return rows[0];
}
