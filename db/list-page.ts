import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';

export type Queryable = Pool | PoolClient;

/** `?page=&pageSize=` of every list endpoint. */
export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});

export interface Page<T> {
  items: T[];
  page: number;
  pageSize: number;
  total: number;
}

/**
 * How a query parameter narrows a list: `equals` a column, `contains` (case-insensitive substring),
 * `has` (array column includes the value), `since`/`until` (time column bounds).
 */
export type FilterOp = 'equals' | 'contains' | 'has' | 'since' | 'until';

export interface ListDefinition<Row> {
  /** SELECT … FROM … (no WHERE): column aliases are the API's field names. */
  select: string;
  /** Query parameter name → the SQL expression it filters and how. */
  filters: Record<string, { column: string; op: FilterOp }>;
  orderBy: string;
  toItem?: (row: Row) => unknown;
}

const CONDITION: Record<FilterOp, (column: string, n: number) => string> = {
  equals: (c, n) => `${c} = $${n}`,
  contains: (c, n) => `${c} ILIKE '%' || $${n} || '%'`,
  has: (c, n) => `$${n} = ANY (${c})`,
  since: (c, n) => `${c} >= $${n}`,
  until: (c, n) => `${c} < $${n}`,
};

/** Escapes LIKE's own wildcards so `contains` means a literal substring. */
function likeLiteral(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/[\\%_]/g, (ch) => `\\${ch}`) : value;
}

/** The one list helper: filters from the query (values always bound as parameters), a page, and the total. */
export async function listPage<Row extends object>(
  db: Queryable,
  definition: ListDefinition<Row>,
  query: z.output<typeof pageQuery> & Record<string, unknown>,
): Promise<Page<unknown>> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  for (const [name, { column, op }] of Object.entries(definition.filters)) {
    const value = query[name];
    if (value === undefined) continue;
    values.push(op === 'contains' ? likeLiteral(value) : value);
    conditions.push(CONDITION[op](column, values.length));
  }
  const where = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  values.push(query.pageSize, (query.page - 1) * query.pageSize);
  const { rows } = await db.query<Row & { __total: string }>(
    `SELECT *, count(*) OVER () AS __total FROM (${definition.select}${where}) listed
      ORDER BY ${definition.orderBy} LIMIT $${values.length - 1} OFFSET $${values.length}`,
    values,
  );
  const total = rows.length
    ? Number(rows[0].__total)
    : await countAll(db, definition.select + where, values.slice(0, -2));
  const items = rows.map(({ __total: _, ...row }) =>
    definition.toItem ? definition.toItem(row as Row) : row,
  );
  return { items, page: query.page, pageSize: query.pageSize, total };
}

/** A page past the end has no rows to carry the window count; count separately so `total` stays right. */
async function countAll(db: Queryable, filtered: string, values: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM (${filtered}) listed`, values);
  return Number(rows[0].n);
}

/** One row of a list definition by id (the view must expose `id`), shaped like the list's items. */
export async function getById<Row extends object>(
  db: Queryable,
  definition: ListDefinition<Row>,
  id: string,
): Promise<unknown | undefined> {
  const { rows } = await db.query<Row>(`SELECT * FROM (${definition.select}) listed WHERE id = $1`, [id]);
  if (rows.length === 0) return undefined;
  return definition.toItem ? definition.toItem(rows[0]) : rows[0];
}
