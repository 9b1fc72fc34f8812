import { z } from 'zod';
import { uncPath } from '../../connectors/connector-type';
import { pageQuery } from '../../db/list-page';
import { storageLocationRecords } from '../../db/storage-locations';
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
    records: storageLocationRecords,
    listQuery: pageQuery.extend({ name: z.string().max(128).optional(), adGroup: adGroup.optional() }),
    body: storageLocation,
    item: storageLocation.extend({ id: z.uuid(), ...recordTimes }),
    access: 'storage.write',
  });
}
