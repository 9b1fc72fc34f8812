import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { migrate, migrationsDir } from '../../db/migrate';
import { createTestDatabase, testDir, type TestDatabase } from '../harness';

describe('migrations', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('upgrades a database made by the first migration without losing its rows; a rerun applies nothing', async () => {
    const firstOnly = testDir('migrations');
    fs.copyFileSync(
      path.join(migrationsDir(), '001_connectors.sql'),
      path.join(firstOnly, '001_connectors.sql'),
    );
    expect(await migrate(pool, firstOnly)).toEqual(['001_connectors.sql']);
    await pool.query(
      `INSERT INTO connectors (id, type, name, settings)
       VALUES ('00000000-0000-4000-8000-00000000000a', 'local', 'Local', '{"storagePool": "/srv/pool"}')`,
    );

    const all = fs
      .readdirSync(migrationsDir())
      .filter((f) => f.endsWith('.sql'))
      .sort();
    expect(await migrate(pool)).toEqual(all.slice(1));
    const { rows } = await pool.query('SELECT name, settings, secrets, packaging_cache_gb FROM connectors');
    expect(rows).toEqual([
      { name: 'Local', settings: { storagePool: '/srv/pool' }, secrets: {}, packaging_cache_gb: 0 },
    ]);
    expect(await migrate(pool)).toEqual([]);

    const tables = await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        'api_tokens',
        'audit_log',
        'connectors',
        'directory_junctions',
        'elastic_assignments',
        'image_template_app_versions',
        'image_templates',
        'layer_versions',
        'layers',
        'local_users',
        'login_failures',
        'published_images',
        'role_assignments',
        'sessions',
        'storage_locations',
      ]),
    );
  });
});
