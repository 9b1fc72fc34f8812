import { z } from 'zod';
import { NAME_RULE, nameProblem } from '../domain/file-names';
import { HttpProblem, validationProblem } from './problem';

export type RequestPart = 'body' | 'query' | 'params';

/** Parses one part of a request with its zod schema; a failure is a 400 (or 422, see below) naming every bad field. */
export function parseRequestPart<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: RequestPart,
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problem = validationProblem(result.error, where);
  // Well-formed input the appliance refuses to use (a name that cannot become a file name) is a 422.
  const refused = result.error.issues.some((i) => i.code === 'custom' && i.params?.status === 422);
  throw new HttpProblem(refused ? { ...problem, status: 422 } : problem);
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

/**
 * A name that becomes part of file names (templates → published images, layers → their disks on a
 * hypervisor): a display name that also keeps domain/file-names.ts's allow-list, refused with the rule it breaks.
 */
export const fileSafeName = displayName
  .superRefine((name, ctx) => {
    const problem = nameProblem(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, params: { status: 422 } });
  })
  .describe(`Becomes part of file names: ${NAME_RULE}`);

export const description = z.string().max(2000).default('');

/**
 * The edit (PATCH) form of a create body: every field optional and defaults removed, so a field left
 * out of an edit stays as it is instead of being reset to its default. (zod's `.partial()` keeps defaults.)
 */
export function patchOf<T extends z.ZodRawShape>(schema: z.ZodObject<T>) {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([key, field]) => [
      key,
      (field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : (field as z.ZodType)).optional(),
    ]),
  );
  return z.object(shape) as unknown as z.ZodObject<{ [K in keyof T]: z.ZodOptional<T[K]> }>;
}

/** The fields of an edit that were actually given. */
export function definedFields<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as Partial<T>;
}
