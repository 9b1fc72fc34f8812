import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import type { CompositingEngine, Task } from '../types';
import { Badge, ProgressBar, progressPercent } from './bits';
import { Link } from '../router';

/** Follows one task until it closes: its state, its step, a progress bar, and why it failed. */
export function TaskWatch({ taskId, onClosed }: { taskId: string; onClosed?(task: Task): void }) {
  const [task, setTask] = useState<Task>();
  const closed = useRef(onClosed);
  closed.current = onClosed;
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const poll = async () => {
      try {
        const next = await api.get<Task>(`/api/tasks/${encodeURIComponent(taskId)}`);
        if (stopped) return;
        setTask(next);
        if (next.state !== 'running') return closed.current?.(next);
      } catch {
        // A busy API or Temporal restarting: the next poll tries again.
      }
      if (!stopped) timer = window.setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [taskId]);
  if (!task) return <p className="muted">Starting task…</p>;
  const step = task.progress?.[task.progress.length - 1];
  return (
    <div className="task-watch" aria-live="polite">
      <div className="task-watch-head">
        <Badge value={task.state} />
        <span>{task.summary ?? task.type}</span>
        <Link href={`/tasks?focus=${encodeURIComponent(task.id)}`}>Task details</Link>
      </div>
      <ProgressBar percent={progressPercent(task.progress, task.state)} label={`Progress of ${task.type}`} />
      {step && task.state === 'running' && (
        <p className="muted">
          {step.step}
          {step.phase ? ` — ${step.phase}` : ''}
          {step.lastFailure ? ` (retrying: ${step.lastFailure})` : ''}
        </p>
      )}
      <TaskEngines engines={task.compositingEngines} />
      {task.error && <p className="error-text">{task.error}</p>}
    </div>
  );
}

/** Where an offloaded compose runs: each Compositing Engine the task has now, and whether it registered. */
export function TaskEngines({ engines }: { engines: CompositingEngine[] | undefined }) {
  if (!engines?.length) return null;
  return (
    <ul className="engines" aria-label="Compositing Engines">
      {engines.map((e) => (
        <li key={e.id}>
          Compositing Engine <code className="hash">{e.id}</code> on {e.connectorName}:{' '}
          {e.registeredAt ? 'registered, composing' : 'starting'}
        </li>
      ))}
    </ul>
  );
}
