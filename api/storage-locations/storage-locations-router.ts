import { z } from 'zod';
import { uncPath } from '../../connectors/connector-type';
import { pageQuery } from '../../db/list-page';
import { crudResource } from '../crud';
import type { ApiDeps } from '../deps';
import { recordTimes } from '../responses';
import { displayName } from '../validation';

const adGroup = z.string().trim().min(1).max(1024).describe('Group DN or DOMAIN\\group');

const storageLocation = z.object({
  name: displayName,
  sharePath: uncPath,
  adGroups: z.array(adGroup).max(1000).default([]),
  priority: z.number().int().min(1).max(100_000).describe('Unique; a lower number wins'),
});

/** User-layer storage locations: a share per AD group set, the highest priority match wins at logon. */
export function storageLocationsResource({ pool }: ApiDeps) {
  return crudResource(pool, {
    tag: 'Storage locations',
    basePath: '/api/storage-locations',
    what: 'Storage location',
    noun: 'StorageLocation',
    table: 'storage_locations',
    view: {
      select: `SELECT id, name, share_path AS "sharePath", ad_groups AS "adGroups", priority,
                      created_at AS "createdAt", updated_at AS "updatedAt" FROM storage_locations`,
      filters: { name: { column: 'name', op: 'contains' }, adGroup: { column: 'ad_groups', op: 'has' } },
      orderBy: 'priority',
    },
    listQuery: pageQuery.extend({ name: z.string().max(128).optional(), adGroup: adGroup.optional() }),
    body: storageLocation,
    item: storageLocation.extend({ id: z.uuid(), ...recordTimes }),
    columns: { name: 'name', sharePath: 'share_path', adGroups: 'ad_groups', priority: 'priority' },
    access: 'storage.write',
  });
}
