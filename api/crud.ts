import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { listPage, type ListDefinition, type pageQuery, type Queryable } from '../db/list-page';
import type { Permission } from './auth/roles';
import { findOr404 } from './lookup';
import { invalidFields, notFound } from './problem';
import { pageOf } from './responses';
import { resource, route, type Resource } from './route';
import { definedFields, idParams, patchOf } from './validation';

export interface CrudDefinition<B extends z.ZodObject> {
  tag: string;
  basePath: string;
  /** Singular, for messages: 'Storage location'. */
  what: string;
  /** PascalCase, for operation ids: 'StorageLocation' → listStorageLocations, createStorageLocation… */
  noun: string;
  table: string;
  view: ListDefinition<object>;
  listQuery: z.ZodType<z.output<typeof pageQuery> & Record<string, unknown>>;
  body: B;
  /** One record as answered (the view's row). */
  item: z.ZodType;
  /** Body field → column it is stored in. */
  columns: { [K in keyof z.output<B>]: string };
  access: Permission;
  /** Checks against other records (a referenced version exists…), run on the full record after an edit too. */
  check?: (db: Queryable, record: z.output<B>) => Promise<{ field: string; message: string }[]>;
}

/**
 * The five routes of a plain record kept by the API (list, create, describe, edit, delete), for
 * resources that have no behaviour beyond validation. Resources with more (connectors, templates) are
 * written out, using the same list and lookup helpers.
 */
export function crudResource<B extends z.ZodObject>(pool: Queryable, d: CrudDefinition<B>): Resource {
  const get = (id: string) => findOr404(pool, d.view, id, d.what);
  const check = async (record: z.output<B>) => {
    const errors = d.check ? await d.check(pool, record) : [];
    if (errors.length > 0) throw invalidFields(errors);
  };
  const columnsOf = (record: Partial<z.output<B>>) =>
    Object.entries(record)
      .filter(([field, value]) => value !== undefined && field in d.columns)
      .map(([field, value]) => ({ column: d.columns[field as keyof z.output<B>], value }));

  return resource(d.tag, d.basePath, [
    route({
      method: 'get',
      path: '/',
      operationId: `list${d.noun}s`,
      response: pageOf(d.item),
      summary: `List ${d.what.toLowerCase()}s`,
      access: 'read',
      query: d.listQuery,
      handle: ({ query }) => listPage(pool, d.view, query),
    }),
    route({
      method: 'post',
      path: '/',
      operationId: `create${d.noun}`,
      response: d.item,
      summary: `Create a ${d.what.toLowerCase()}`,
      access: d.access,
      body: d.body,
      status: 201,
      handle: async ({ body, auditObject }) => {
        await check(body);
        const id = randomUUID();
        auditObject(id);
        const fields = columnsOf(body);
        await pool.query(
          `INSERT INTO ${d.table} (id, ${fields.map((f) => f.column).join(', ')})
           VALUES ($1, ${fields.map((_, i) => `$${i + 2}`).join(', ')})`,
          [id, ...fields.map((f) => f.value)],
        );
        return get(id);
      },
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: `get${d.noun}`,
      response: d.item,
      summary: `Describe a ${d.what.toLowerCase()}`,
      access: 'read',
      params: idParams,
      handle: ({ params }) => get(params.id),
    }),
    route({
      method: 'patch',
      path: '/:id',
      operationId: `update${d.noun}`,
      response: d.item,
      summary: `Edit a ${d.what.toLowerCase()}`,
      access: d.access,
      params: idParams,
      body: patchOf(d.body),
      handle: async ({ params, body }) => {
        const changes = body as Partial<z.output<B>>;
        const current = (await get(params.id)) as z.output<B>;
        await check({ ...current, ...definedFields(changes) });
        const fields = columnsOf(changes);
        if (fields.length > 0) {
          await pool.query(
            `UPDATE ${d.table} SET ${fields.map((f, i) => `${f.column} = $${i + 2}`).join(', ')}, updated_at = now()
              WHERE id = $1`,
            [params.id, ...fields.map((f) => f.value)],
          );
        }
        return get(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/:id',
      operationId: `delete${d.noun}`,
      summary: `Delete a ${d.what.toLowerCase()}`,
      access: d.access,
      params: idParams,
      handle: async ({ params }) => {
        const { rowCount } = await pool.query(`DELETE FROM ${d.table} WHERE id = $1`, [params.id]);
        if (rowCount === 0) throw notFound(d.what, params.id);
      },
    }),
  ]);
}
