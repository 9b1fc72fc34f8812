import type { Pool } from 'pg';
import type { SealedSecret, SecretBox } from '../config/secret-box';
import type { ListDefinition, Queryable } from './list-page';
import { withTransaction } from './transaction';

/** A connector configuration as stored in Postgres (secrets excluded). */
export interface ConnectorRecord {
  id: string;
  type: string;
  name: string;
  settings: Record<string, unknown>;
  /** Packaging cache size in GB (0 = off); connectors that keep the cache check that it fits. */
  packagingCacheGb?: number;
}

export async function listConnectors(pool: Pool): Promise<ConnectorRecord[]> {
  const { rows } = await pool.query<ConnectorRecord>(
    'SELECT id, type, name, settings, packaging_cache_gb AS "packagingCacheGb" FROM connectors ORDER BY name',
  );
  return rows;
}

export async function getConnector(pool: Pool, id: string): Promise<ConnectorRecord | undefined> {
  const { rows } = await pool.query<ConnectorRecord>(
    'SELECT id, type, name, settings, packaging_cache_gb AS "packagingCacheGb" FROM connectors WHERE id = $1',
    [id],
  );
  return rows[0];
}

/** Fixed id of the embedded `Local` connector, so every start finds the same record. */
export const DEFAULT_LOCAL_CONNECTOR_ID = '00000000-0000-4000-8000-00000000000a';

/** Creates the embedded default connector on first start; later starts leave an edited one alone. */
export async function ensureDefaultLocalConnector(pool: Pool, storagePool: string): Promise<void> {
  await pool.query(
    `INSERT INTO connectors (id, type, name, settings) VALUES ($1, 'local', 'Local', $2)
     ON CONFLICT (id) DO NOTHING`,
    [DEFAULT_LOCAL_CONNECTOR_ID, JSON.stringify({ storagePool })],
  );
}

/** The opened secrets of a connector, for the activity that uses them; never for an API answer. */
export async function getConnectorSecrets(
  pool: Pool,
  box: SecretBox,
  id: string,
): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ secrets: Record<string, SealedSecret> }>(
    'SELECT secrets FROM connectors WHERE id = $1',
    [id],
  );
  return Object.fromEntries(
    Object.entries(rows[0]?.secrets ?? {}).map(([field, sealed]) => [field, box.open(sealed)]),
  );
}

export async function connectorExists(pool: Pool, id: string): Promise<boolean> {
  const { rows } = await pool.query('SELECT 1 FROM connectors WHERE id = $1', [id]);
  return rows.length > 0;
}

/** A connector's type and name, or undefined when there is no such connector; `T` is the caller's type names. */
export async function connectorTypeAndName<T extends string>(
  db: Queryable,
  id: string,
): Promise<{ type: T; name: string } | undefined> {
  const { rows } = await db.query<{ type: T; name: string }>(
    'SELECT type, name FROM connectors WHERE id = $1',
    [id],
  );
  return rows[0];
}

/** A connector row as the API lists it; `T` is the caller's type names. Secrets stay sealed here. */
export interface ConnectorListRow<T extends string> {
  id: string;
  type: T;
  secrets: Record<string, SealedSecret>;
  cacheHits: string;
  cacheLookups: string;
  [column: string]: unknown;
}

/**
 * The API's connector list; `toItem` shapes each row (the API answers whether each secret is set,
 * never its value, and derives the cache hit rate from its counters).
 */
export function connectorList<T extends string>(
  toItem: (row: ConnectorListRow<T>) => unknown,
): ListDefinition<ConnectorListRow<T>> {
  return {
    select: `SELECT id, type, name, settings, secrets, offload_compositing AS "offloadCompositing",
                    packaging_cache_gb AS "packagingCacheGb", cache_hits AS "cacheHits",
                    cache_lookups AS "cacheLookups", post_publish_script AS "postPublishScript",
                    created_at AS "createdAt", updated_at AS "updatedAt"
               FROM connectors`,
    filters: { type: { column: 'type', op: 'equals' }, name: { column: 'name', op: 'contains' } },
    orderBy: 'name',
    toItem,
  };
}

export interface NewConnector {
  id: string;
  type: string;
  name: string;
  settings: object;
  secrets: Record<string, SealedSecret>;
  offloadCompositing: boolean;
  packagingCacheGb: number;
  postPublishScript?: string | null;
}

export async function insertConnector(pool: Pool, c: NewConnector): Promise<void> {
  await pool.query(
    `INSERT INTO connectors (id, type, name, settings, secrets, offload_compositing, packaging_cache_gb,
                             post_publish_script)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      c.id,
      c.type,
      c.name,
      JSON.stringify(c.settings),
      JSON.stringify(c.secrets),
      c.offloadCompositing,
      c.packagingCacheGb,
      c.postPublishScript ?? null,
    ],
  );
}

/** What an edit stores: absent fields stay; `secrets` is the whole new sealed set; a null script clears it. */
export interface ConnectorChanges {
  name?: string;
  settings?: object;
  secrets: Record<string, SealedSecret>;
  offloadCompositing?: boolean;
  packagingCacheGb?: number;
  postPublishScript?: string | null;
}

/**
 * Edits a connector in one transaction: its row is locked, `edit` sees its type and sealed secrets
 * (and throws to change nothing) and answers the changes. False when there is no such connector.
 */
export async function editConnector<T extends string>(
  pool: Pool,
  id: string,
  edit: (current: { type: T; secrets: Record<string, SealedSecret> }) => Promise<ConnectorChanges>,
): Promise<boolean> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ type: T; secrets: Record<string, SealedSecret> }>(
      'SELECT type, secrets FROM connectors WHERE id = $1 FOR UPDATE',
      [id],
    );
    if (!rows[0]) return false;
    const c = await edit(rows[0]);
    await client.query(
      `UPDATE connectors SET name = coalesce($2, name), settings = coalesce($3, settings), secrets = $4,
              offload_compositing = coalesce($5, offload_compositing),
              packaging_cache_gb = coalesce($6, packaging_cache_gb),
              post_publish_script = CASE WHEN $7 THEN $8 ELSE post_publish_script END,
              updated_at = now()
        WHERE id = $1`,
      [
        id,
        c.name,
        c.settings && JSON.stringify(c.settings),
        JSON.stringify(c.secrets),
        c.offloadCompositing,
        c.packagingCacheGb,
        c.postPublishScript !== undefined,
        c.postPublishScript,
      ],
    );
    return true;
  });
}

/** Names of the templates and layers that use a connector, for the API's 409. */
export async function connectorUsers(
  pool: Pool,
  id: string,
): Promise<{ templates: string[]; layers: string[] }> {
  const { rows } = await pool.query<{ templates: string[]; layers: string[] }>(
    `SELECT array(SELECT name FROM image_templates WHERE connector_id = $1 ORDER BY name) AS templates,
            array(SELECT name FROM layers WHERE connector_id = $1 ORDER BY name) AS layers`,
    [id],
  );
  return rows[0];
}

export async function deleteConnector(pool: Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM connectors WHERE id = $1', [id]);
}

/** A connector's post-publish script; undefined when there is no such connector. */
export async function postPublishScriptOf(pool: Pool, id: string): Promise<string | null | undefined> {
  const { rows } = await pool.query<{ script: string | null }>(
    'SELECT post_publish_script AS script FROM connectors WHERE id = $1',
    [id],
  );
  return rows[0]?.script;
}
