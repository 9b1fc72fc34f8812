import { z } from 'zod';
import { uncPath } from '../../connectors/connector-type';
import { pageQuery } from '../../db/list-page';
import { locationsByPriority, osLayerNamed, storageLocationRecords } from '../../db/storage-locations';
import { DEFAULT_USER_LAYER_SIZE_GB, userLayerFolder } from '../../domain/user-layers';
import { crudResource } from '../crud';
import type { ApiDeps } from '../deps';
import type { Junction } from '../auth/directory';
import { loadJunctions } from '../directory-junctions/junction-store';
import {
  logonIdentity,
  lookedUp,
  PrincipalProblem,
  resolveGroups,
  resolvePrincipals,
  type LogonIdentity,
} from '../elastic-assignments/directory-principals';
import { HttpProblem, notFound } from '../problem';
import { recordTimes } from '../responses';
import { resource, route } from '../route';
import { displayName } from '../validation';

const adGroup = z.string().trim().min(1).max(1024).describe('Group DN or DOMAIN\\group');

const storageLocation = z.object({
  name: displayName,
  sharePath: uncPath,
  adGroups: z.array(adGroup).max(1000).default([]).describe('No groups: the location of every user'),
  priority: z.number().int().min(1).max(100_000).describe('Unique; a lower number wins'),
});

const userLayerQuery = z.object({
  user: z.string().trim().min(3).max(1024).describe('DOMAIN\\user or user@domain'),
  osLayer: z
    .string()
    .trim()
    .min(1)
    .max(128)
    .describe('The OS layer (name or id) of the image the user logs on to'),
});

const userLayerPath = z.object({
  user: z.object({ name: z.string(), sid: z.string() }),
  osLayer: z.object({ id: z.uuid(), name: z.string() }),
  location: z.object({ id: z.uuid(), name: z.string(), sharePath: z.string(), priority: z.number() }),
  path: z.string().describe('\\\\server\\share\\Users\\DOMAIN_user\\<OS layer id>_<OS layer name>'),
  defaultSizeGb: z.number(),
});

/** Whether one of a location's groups (a DN, or DOMAIN\group looked up to its SID) has the user in it. */
async function hasMember(junctions: Junction[], groups: string[], identity: LogonIdentity): Promise<boolean> {
  if (groups.length === 0) return true;
  const dns = new Set(identity.groups.map((g) => g.dn.toLowerCase()));
  for (const group of groups) {
    if (group.includes('=')) {
      if (dns.has(group.toLowerCase())) return true;
      continue;
    }
    try {
      const [found] = await resolvePrincipals(junctions, [{ kind: 'group', name: group }]);
      if (identity.sids.includes(found.sid)) return true;
    } catch (err) {
      // A group the directory no longer has holds nobody.
      if (!(err instanceof PrincipalProblem)) throw err;
    }
  }
  return false;
}

/**
 * User-layer storage locations: a share per AD group set, the highest priority match wins at logon;
 * `resolve` answers where a user's layer for an OS layer is (or will be made). Groups are looked up in
 * their domain's directory when a location is saved, as assignments' are: a group the directory does not
 * know is refused (422), and the SIDs found are kept for the images that name the location.
 */
export function storageLocationsResource(deps: ApiDeps) {
  const { pool, secrets } = deps;
  const records = crudResource(pool, {
    tag: 'Storage locations',
    basePath: '/api/storage-locations',
    what: 'Storage location',
    noun: 'StorageLocation',
    records: storageLocationRecords,
    listQuery: pageQuery.extend({ name: z.string().max(128).optional(), adGroup: adGroup.optional() }),
    body: storageLocation,
    item: storageLocation.extend({
      id: z.uuid(),
      principals: z
        .array(z.object({ name: z.string(), kind: z.literal('group'), sid: z.string(), dn: z.string() }))
        .describe('The groups with the SIDs the directory gave when the location was saved'),
      ...recordTimes,
    }),
    access: 'storage.write',
    derive: async ({ adGroups }) => {
      const junctions = adGroups.length > 0 ? await loadJunctions(pool, secrets) : [];
      const principals = await lookedUp('body.adGroups', () => resolveGroups(junctions, adGroups));
      return { principals: JSON.stringify(principals) };
    },
  });
  const resolving = resource('Storage locations', '/api/storage-locations', [
    route({
      method: 'get',
      path: '/resolve',
      operationId: 'resolveUserLayer',
      summary:
        "Where a user's layer for an OS layer is: the storage location of their highest-priority group",
      access: 'read',
      query: userLayerQuery,
      response: userLayerPath,
      handle: async ({ query }) => {
        const osLayer = await osLayerNamed(pool, query.osLayer);
        if (!osLayer) throw notFound('OS layer', query.osLayer);
        const junctions = await loadJunctions(pool, secrets);
        const identity = await lookedUp('query.user', () => logonIdentity(junctions, query.user));
        for (const location of await locationsByPriority(pool)) {
          const matches = await lookedUp('query.user', () =>
            hasMember(junctions, location.adGroups, identity),
          );
          if (!matches) continue;
          const [domain, name] = identity.user.name.split('\\');
          return {
            user: { name: identity.user.name, sid: identity.user.sid },
            osLayer,
            location: {
              id: location.id,
              name: location.name,
              sharePath: location.sharePath,
              priority: location.priority,
            },
            path: userLayerFolder(location.sharePath, { domain, name }, osLayer),
            defaultSizeGb: DEFAULT_USER_LAYER_SIZE_GB,
          };
        }
        throw new HttpProblem({
          title: 'No storage location',
          status: 409,
          detail: `no storage location is assigned to ${identity.user.name} or any of their groups`,
        });
      },
    }),
  ]);
  // The resolve route first: express would otherwise take 'resolve' for the id of GET /:id.
  return { ...records, routes: [...resolving.routes, ...records.routes] };
}
