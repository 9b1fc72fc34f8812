import type { Pool } from 'pg';
import type { SealedSecret, SecretBox } from '../config/secret-box';

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
