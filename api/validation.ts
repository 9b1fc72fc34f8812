import { z } from 'zod';
import { HttpProblem, validationProblem } from './problem';

export type RequestPart = 'body' | 'query' | 'params';

/** Parses one part of a request with its zod schema; a failure is a 400 naming every bad field. */
export function parseRequestPart<T extends z.ZodType>(schema: T, value: unknown, where: RequestPart): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpProblem(validationProblem(result.error, where));
  return result.data;
}

/** Path parameter `:id` of every resource that Postgres keys by uuid. */
export const idParams = z.object({ id: z.uuid('not an id') });

/** Text a person types as a name: trimmed, non-empty, printable. */
export const displayName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(128)
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

export const description = z.string().max(2000).default('');
