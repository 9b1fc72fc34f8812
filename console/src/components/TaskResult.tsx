import { Fragment } from 'react';

/** What a completed task made, as the API returned it: one row per field, nested values as JSON. */
export function TaskResult({ result }: { result: unknown }) {
  if (result === undefined || result === null) return null;
  const entries =
    typeof result === 'object' && !Array.isArray(result)
      ? Object.entries(result as Record<string, unknown>)
      : [['result', result] as [string, unknown]];
  return (
    <dl className="facts" aria-label="Task result">
      {entries.map(([key, value]) => (
        <Fragment key={key}>
          <dt>{key}</dt>
          <dd>
            {typeof value === 'object' && value !== null ? (
              <code className="path">{JSON.stringify(value)}</code>
            ) : (
              String(value)
            )}
          </dd>
        </Fragment>
      ))}
    </dl>
  );
}
