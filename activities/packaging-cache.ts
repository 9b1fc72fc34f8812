import { createHash } from 'node:crypto';
import { admit, forget, lookUp, type CacheLookup } from '../db/packaging-cache';
import { withVmHost, type ConnectorAccessDeps } from './connector-access';

export interface KeyedLookup extends CacheLookup {
  cacheKey: string;
  diskName: string;
}

/**
 * The packaging cache (createLayerVersion): composed boot disks kept on the connector's storage,
 * keyed by the layer versions inside them, evicted least recently used first to stay within the
 * connector's packaging cache size.
 */
export function createPackagingCacheActivities(deps: ConnectorAccessDeps) {
  return {
    /**
     * Looks up the boot disk made of `contents` (layer version ids and disk settings, in order) and
     * counts the lookup once per `lookupId`. Returns the key and the disk name to store a miss under.
     */
    async lookUpPackagingCache(
      lookupId: string,
      connectorId: string,
      contents: string[],
    ): Promise<KeyedLookup> {
      const cacheKey = createHash('sha256').update(contents.join('\n')).digest('hex');
      const diskName = `packaging-cache-${cacheKey.slice(0, 40)}`;
      const result = await lookUp(deps.pool, lookupId, connectorId, cacheKey);
      // A record whose disk is gone (deleted on the hypervisor) is a miss, and is forgotten.
      const cachedDisk = result.hit?.diskName;
      if (cachedDisk && !(await withVmHost(deps, connectorId, (host) => host.hasDisk(cachedDisk)))) {
        await forget(deps.pool, connectorId, cacheKey);
        return { cacheKey, diskName, capacityBytes: result.capacityBytes };
      }
      return { cacheKey, diskName, ...result };
    },

    /** Records a stored boot disk as cached and evicts what no longer fits. Returns the evicted keys. */
    async admitToPackagingCache(
      connectorId: string,
      cacheKey: string,
      diskName: string,
      capacityBytes: number,
    ): Promise<string[]> {
      return withVmHost(deps, connectorId, async (host) => {
        const sizeBytes = await host.diskVirtualSize(diskName);
        const evicted = await admit(deps.pool, connectorId, { cacheKey, diskName, sizeBytes }, capacityBytes);
        for (const entry of evicted) {
          await host.deleteDisk(entry.diskName);
          await forget(deps.pool, connectorId, entry.cacheKey);
        }
        return evicted.map((e) => e.cacheKey);
      });
    },
  };
}

export type PackagingCacheActivities = ReturnType<typeof createPackagingCacheActivities>;
