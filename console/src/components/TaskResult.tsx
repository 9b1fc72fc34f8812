import { Fragment } from 'react';

/** A result's leaves under dotted names (`pvs.disk.location`), so nested values read as plain rows. */
function leaves(value: unknown, name: string): [string, string][] {
  if (value === null || typeof value !== 'object') return [[name, String(value)]];
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== 'object'))
    return [[name, value.join(', ')]];
  return Object.entries(value).flatMap(([key, v]) => leaves(v, name ? `${name}.${key}` : key));
}

/** What a completed task made, as the API returned it: one row per value. */
export function TaskResult({ result }: { result: unknown }) {
  if (result === undefined || result === null) return null;
  return (
    <dl className="facts" aria-label="Task result">
      {leaves(result, typeof result === 'object' ? '' : 'result').map(([key, value]) => (
        <Fragment key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
