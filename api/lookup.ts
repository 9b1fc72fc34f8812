import { getById, type ListDefinition, type Queryable } from '../db/list-page';
import { notFound } from './problem';

/** The item `id` of a list view, or a 404 naming what was looked for. */
export async function findOr404<Row extends object>(
  db: Queryable,
  view: ListDefinition<Row>,
  id: string,
  what: string,
): Promise<unknown> {
  const item = await getById(db, view, id);
  if (item === undefined) throw notFound(what, id);
  return item;
}
