import type { SealedSecret } from '../config/secret-box';
import type { RecordTable } from './crud';
import type { Queryable } from './list-page';

/**
 * Elastic layer shares (System > Settings): the SMB path desktops mount layers from, the account, and
 * where the appliance has the share mounted. The password is sealed and never read back by the API.
 */
export const elasticShareRecords: RecordTable<'name' | 'sharePath' | 'user' | 'password' | 'mountPoint'> = {
  table: 'elastic_shares',
  view: {
    select: `SELECT id, name, share_path AS "sharePath", user_name AS "user", password IS NOT NULL AS "passwordSet",
                    mount_point AS "mountPoint", created_at AS "createdAt", updated_at AS "updatedAt"
               FROM elastic_shares`,
    filters: { name: { column: 'name', op: 'contains' } },
    orderBy: 'name',
  },
  columns: {
    name: 'name',
    sharePath: 'share_path',
    user: 'user_name',
    password: 'password',
    mountPoint: 'mount_point',
  },
};

export interface ElasticShare {
  id: string;
  name: string;
  sharePath: string;
  mountPoint: string;
  password: SealedSecret | null;
}

export async function getElasticShare(db: Queryable, id: string): Promise<ElasticShare | undefined> {
  const { rows } = await db.query<ElasticShare>(
    `SELECT id, name, share_path AS "sharePath", mount_point AS "mountPoint", password FROM elastic_shares WHERE id = $1`,
    [id],
  );
  return rows[0];
}

export async function elasticShareIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM elastic_shares ORDER BY name');
  return rows.map((r) => r.id);
}
