import type { Pool } from 'pg';
import { withTransaction } from './transaction';

/**
 * The packaging cache's bookkeeping (ARCHITECTURE.md §6, createLayerVersion): which composed boot
 * disks a connector holds, when each was last used, and the hit rate shown on the connector.
 */
export interface CacheEntry {
  cacheKey: string;
  diskName: string;
  sizeBytes: number;
}

export interface CacheLookup {
  /** 0: the connector's cache is off. */
  capacityBytes: number;
  hit?: CacheEntry;
}

/**
 * Looks `cacheKey` up and counts the lookup (and the hit) on the connector, once per lookup id.
 * A hit is marked used, so eviction takes the least recently used entries first.
 */
export async function lookUp(
  pool: Pool,
  lookupId: string,
  connectorId: string,
  cacheKey: string,
): Promise<CacheLookup> {
  return withTransaction(pool, async (db) => {
    const { rows: connectors } = await db.query<{ gb: number }>(
      'SELECT packaging_cache_gb AS gb FROM connectors WHERE id = $1 FOR UPDATE',
      [connectorId],
    );
    if (!connectors[0]) throw new Error(`connector ${connectorId} does not exist`);
    const capacityBytes = connectors[0].gb * 2 ** 30;
    if (capacityBytes === 0) return { capacityBytes };
    const { rows } = await db.query<CacheEntry>(
      `UPDATE packaging_cache_entries SET last_used_at = now()
        WHERE connector_id = $1 AND cache_key = $2
        RETURNING cache_key AS "cacheKey", disk_path AS "diskName", size_bytes::float8 AS "sizeBytes"`,
      [connectorId, cacheKey],
    );
    const hit = rows[0];
    const counted = await db.query(
      `INSERT INTO packaging_cache_lookups (id, connector_id, hit) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
      [lookupId, connectorId, hit !== undefined],
    );
    if (counted.rowCount === 1) {
      await db.query(
        `UPDATE connectors SET cache_lookups = cache_lookups + 1, cache_hits = cache_hits + $2 WHERE id = $1`,
        [connectorId, hit ? 1 : 0],
      );
    }
    return { capacityBytes, hit };
  });
}

/**
 * Records a new entry and returns the entries to evict (least recently used first) so that the
 * cache fits its capacity again. The caller deletes their disks, then forgets them.
 */
export async function admit(
  pool: Pool,
  connectorId: string,
  entry: CacheEntry,
  capacityBytes: number,
): Promise<CacheEntry[]> {
  return withTransaction(pool, async (db) => {
    await db.query(
      `INSERT INTO packaging_cache_entries (connector_id, cache_key, disk_path, size_bytes) VALUES ($1, $2, $3, $4)
       ON CONFLICT (connector_id, cache_key) DO UPDATE SET last_used_at = now()`,
      [connectorId, entry.cacheKey, entry.diskName, entry.sizeBytes],
    );
    const { rows } = await db.query<CacheEntry & { total: number }>(
      `SELECT cache_key AS "cacheKey", disk_path AS "diskName", size_bytes::float8 AS "sizeBytes",
              (sum(size_bytes) OVER (ORDER BY last_used_at DESC, cache_key))::float8 AS total
         FROM packaging_cache_entries WHERE connector_id = $1`,
      [connectorId],
    );
    // Newest first, a running total: everything past the capacity goes, the new entry always stays.
    return rows
      .filter((r) => r.total > capacityBytes && r.cacheKey !== entry.cacheKey)
      .map(({ cacheKey, diskName, sizeBytes }) => ({ cacheKey, diskName, sizeBytes }));
  });
}

export async function forget(pool: Pool, connectorId: string, cacheKey: string): Promise<void> {
  await pool.query('DELETE FROM packaging_cache_entries WHERE connector_id = $1 AND cache_key = $2', [
    connectorId,
    cacheKey,
  ]);
}
