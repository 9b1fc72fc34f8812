import type { ListDefinition, Queryable } from './list-page';

/**
 * A plain record table the API edits field by field (api/crud.ts): the table, the view its answers
 * are read from, and which column each field of the API's body is stored in. Table and column names
 * come from these definitions only, never from a request; values are always bound as parameters.
 */
export interface RecordTable<F extends string> {
  table: string;
  view: ListDefinition<object>;
  columns: Record<F, string>;
}

/** The defined fields of `record` that have a column, in the order given. */
function columnsOf<F extends string>(t: RecordTable<F>, record: Partial<Record<F, unknown>>) {
  return Object.entries(record)
    .filter(([field, value]) => value !== undefined && field in t.columns)
    .map(([field, value]) => ({ column: t.columns[field as F], value }));
}

export async function insertRecord<F extends string>(
  db: Queryable,
  t: RecordTable<F>,
  id: string,
  record: Partial<Record<F, unknown>>,
): Promise<void> {
  const fields = columnsOf(t, record);
  await db.query(
    `INSERT INTO ${t.table} (id, ${fields.map((f) => f.column).join(', ')})
     VALUES ($1, ${fields.map((_, i) => `$${i + 2}`).join(', ')})`,
    [id, ...fields.map((f) => f.value)],
  );
}

/** Stores the defined fields of `changes`; with none, changes nothing (not even `updated_at`). */
export async function updateRecord<F extends string>(
  db: Queryable,
  t: RecordTable<F>,
  id: string,
  changes: Partial<Record<F, unknown>>,
): Promise<void> {
  const fields = columnsOf(t, changes);
  if (fields.length === 0) return;
  await db.query(
    `UPDATE ${t.table} SET ${fields.map((f, i) => `${f.column} = $${i + 2}`).join(', ')}, updated_at = now()
      WHERE id = $1`,
    [id, ...fields.map((f) => f.value)],
  );
}

/** False when there was no such record. */
export async function deleteRecord<F extends string>(
  db: Queryable,
  t: RecordTable<F>,
  id: string,
): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${t.table} WHERE id = $1`, [id]);
  return rowCount !== 0;
}
