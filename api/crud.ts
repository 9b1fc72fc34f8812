import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { deleteRecord, insertRecord, updateRecord, type RecordTable } from '../db/crud';
import { listPage, type pageQuery, type Queryable } from '../db/list-page';
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
  /** The table, its view and body field → column (db/). */
  records: RecordTable<keyof z.output<B> & string>;
  listQuery: z.ZodType<z.output<typeof pageQuery> & Record<string, unknown>>;
  body: B;
  /** One record as answered (the view's row). */
  item: z.ZodType;
  access: Permission;
  /** Checks against other records (a referenced version exists…), run on the full record after an edit too. */
  check?: (db: Queryable, record: z.output<B>) => Promise<{ field: string; message: string }[]>;
  /**
   * Fields stored with the record that come from elsewhere (groups' SIDs from the directory), derived
   * from the full, checked record on every save; columns in `records`, never in the body.
   */
  derive?: (record: z.output<B>) => Promise<Record<string, unknown>>;
}

/**
 * The five routes of a plain record kept by the API (list, create, describe, edit, delete), for
 * resources that have no behaviour beyond validation. Resources with more (connectors, templates) are
 * written out, using the same list and lookup helpers.
 */
export function crudResource<B extends z.ZodObject>(pool: Queryable, d: CrudDefinition<B>): Resource {
  const get = (id: string) => findOr404(pool, d.records.view, id, d.what);
  /** The record checked, and what is derived from it to store alongside. */
  const check = async (record: z.output<B>): Promise<Record<string, unknown>> => {
    const errors = d.check ? await d.check(pool, record) : [];
    if (errors.length > 0) throw invalidFields(errors);
    return d.derive ? d.derive(record) : {};
  };

  return resource(d.tag, d.basePath, [
    route({
      method: 'get',
      path: '/',
      operationId: `list${d.noun}s`,
      response: pageOf(d.item),
      summary: `List ${d.what.toLowerCase()}s`,
      access: 'read',
      query: d.listQuery,
      handle: ({ query }) => listPage(pool, d.records.view, query),
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
        const derived = await check(body);
        const id = randomUUID();
        auditObject(id);
        await insertRecord(pool, d.records, id, { ...body, ...derived });
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
        const derived = await check({ ...current, ...definedFields(changes) });
        await updateRecord(pool, d.records, params.id, { ...changes, ...derived });
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
        if (!(await deleteRecord(pool, d.records, params.id))) throw notFound(d.what, params.id);
      },
    }),
  ]);
}
