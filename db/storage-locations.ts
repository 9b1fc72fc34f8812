import type { RecordTable } from './crud';

/** User-layer storage locations: a share per AD group set; the lowest priority number wins at logon. */
export const storageLocationRecords: RecordTable<'name' | 'sharePath' | 'adGroups' | 'priority'> = {
  table: 'storage_locations',
  view: {
    select: `SELECT id, name, share_path AS "sharePath", ad_groups AS "adGroups", priority,
                    created_at AS "createdAt", updated_at AS "updatedAt" FROM storage_locations`,
    filters: { name: { column: 'name', op: 'contains' }, adGroup: { column: 'ad_groups', op: 'has' } },
    orderBy: 'priority',
  },
  columns: { name: 'name', sharePath: 'share_path', adGroups: 'ad_groups', priority: 'priority' },
};
