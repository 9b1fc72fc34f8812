import { useState } from 'react';
import { api, query } from '../api';
import { ProblemView } from '../components/Problem';
import { TaskEngines } from '../components/TaskWatch';
import { Badge, Empty, PageHeader, ProgressBar, formatTime, progressPercent } from '../components/bits';
import { useAction, useLoad } from '../hooks';
import { useSession } from '../session';
import { TASK_TYPES } from '../../../domain/tasks';
import type { Task } from '../types';

const PAGE_SIZE = 25;

/** The list shows each running task's progress: its details are asked for, the closed ones need none. */
async function loadTasks(filter: string): Promise<{ items: Task[]; nextPageToken?: string }> {
  const page = await api.get<{ items: Task[]; nextPageToken?: string }>(`/api/tasks${filter}`);
  const items = await Promise.all(
    page.items.map((t) =>
      t.state === 'running' ? api.get<Task>(`/api/tasks/${encodeURIComponent(t.id)}`).catch(() => t) : t,
    ),
  );
  return { ...page, items };
}

/** Tasks from Temporal, newest first, refreshed every two seconds: progress, stop, retry, the Web UI. */
export function TasksPage() {
  const { can, temporalWorkflowsUrl } = useSession();
  const [state, setState] = useState('');
  const [type, setType] = useState('');
  const [tokens, setTokens] = useState<string[]>([]);
  const pageToken = tokens[tokens.length - 1];
  const filter = query({ state, type, pageSize: PAGE_SIZE, pageToken });
  const list = useLoad(() => loadTasks(filter), filter, 2000);
  const action = useAction();
  const focus = new URLSearchParams(window.location.search).get('focus');

  const act = async (task: Task, verb: 'stop' | 'retry') => {
    await action.run(() => api.post<Task>(`/api/tasks/${encodeURIComponent(task.id)}/${verb}`));
    list.reload();
  };

  return (
    <section>
      <PageHeader title="Tasks" />
      <div className="filters" role="search">
        <label>
          State{' '}
          <select
            value={state}
            onChange={(e) => {
              setState(e.target.value);
              setTokens([]);
            }}
          >
            <option value="">All</option>
            {['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Type{' '}
          <select
            value={type}
            onChange={(e) => {
              setType(e.target.value);
              setTokens([]);
            }}
          >
            <option value="">All</option>
            {TASK_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      <ProblemView error={action.error ?? list.error} />
      {list.data?.items.length === 0 && <Empty>No tasks match.</Empty>}
      {list.data && list.data.items.length > 0 && (
        <table className="tasks">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">State</th>
              <th scope="col" className="progress-col">
                Progress
              </th>
              <th scope="col">User</th>
              <th scope="col">Started</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((task) => {
              const step = task.progress?.[task.progress.length - 1];
              return (
                <tr key={task.id} className={task.id === focus ? 'focused' : undefined}>
                  <td>
                    <strong>{task.type}</strong>
                    <div className="muted small">{task.summary ?? task.objectId ?? task.id}</div>
                    {task.error && <div className="error-text small">{task.error}</div>}
                  </td>
                  <td>
                    <Badge value={task.state} />
                  </td>
                  <td>
                    <ProgressBar
                      percent={progressPercent(task.progress, task.state)}
                      label={`Progress of ${task.type} ${task.id}`}
                    />
                    {step && task.state === 'running' && (
                      <div className="muted small">
                        {step.step}
                        {step.phase ? ` — ${step.phase}` : ''}
                      </div>
                    )}
                    <TaskEngines engines={task.compositingEngines} />
                  </td>
                  <td>{task.user ?? '—'}</td>
                  <td>{formatTime(task.startedAt)}</td>
                  <td className="row-actions">
                    {can('tasks.control') && task.state === 'running' && (
                      <button type="button" className="small danger" onClick={() => void act(task, 'stop')}>
                        Stop
                      </button>
                    )}
                    {can('tasks.control') && ['failed', 'cancelled', 'timed_out'].includes(task.state) && (
                      <button type="button" className="small" onClick={() => void act(task, 'retry')}>
                        Retry
                      </button>
                    )}
                    {temporalWorkflowsUrl && (
                      <a
                        className="small"
                        href={`${temporalWorkflowsUrl}/${encodeURIComponent(task.id)}`}
                        target="_blank"
                        rel="noreferrer"
                      >
                        Workflow<span className="visually-hidden"> {task.id} in the Temporal Web UI</span>
                      </a>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={tokens.length === 0} onClick={() => setTokens(tokens.slice(0, -1))}>
          ‹ Newer
        </button>
        <button
          type="button"
          disabled={!list.data?.nextPageToken}
          onClick={() => list.data?.nextPageToken && setTokens([...tokens, list.data.nextPageToken])}
        >
          Older ›
        </button>
      </nav>
    </section>
  );
}
