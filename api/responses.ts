import { z } from 'zod';
import { pageQuery } from '../db/list-page';

/** Response schemas: what answers hold, for the OpenAPI document and for tests that check answers. */
export const timestamp = z.iso.datetime();
export const nullableId = z.uuid().nullable();

/** A page of a list endpoint (db/list-page.ts). */
export function pageOf<T extends z.ZodType>(item: T) {
  return pageQuery.extend({ items: z.array(item), total: z.number().int() });
}

/** Creation and change times every stored record carries. */
export const recordTimes = { createdAt: timestamp, updatedAt: timestamp };
