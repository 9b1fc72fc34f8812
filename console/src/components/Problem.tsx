import { ApiError } from '../api';

/** An error as the API explained it: title, detail, each bad field, and who uses an object still in use. */
export function ProblemView({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const problem = error instanceof ApiError ? error.problem : { title: 'Error', detail: error.message };
  const errors = 'errors' in problem ? problem.errors : undefined;
  const usedBy = 'usedBy' in problem ? problem.usedBy : undefined;
  return (
    <div className="problem" role="alert">
      <strong>{problem.title}</strong>
      {problem.detail && <p>{problem.detail}</p>}
      {errors && errors.length > 0 && (
        <ul>
          {errors.map((e) => (
            <li key={e.field + e.message}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
      {usedBy && (
        <div>
          Used by:
          <ul className="used-by">
            {Object.entries(usedBy).flatMap(([kind, names]) =>
              names.map((name) => (
                <li key={kind + name}>
                  {kind}: <strong>{name}</strong>
                </li>
              )),
            )}
          </ul>
        </div>
      )}
    </div>
  );
}
