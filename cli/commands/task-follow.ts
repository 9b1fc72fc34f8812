import type { Task } from '../../api/tasks/task-service';
import type { applianceApi } from '../appliance-api';

type Api = ReturnType<typeof applianceApi>;

/** The furthest-along step of a running task, as one line: `step phase done/total`. */
function progressLine(task: Task): string {
  const step = [...task.progress].reverse().find((p) => p.total !== undefined) ?? task.progress.at(-1);
  if (!step) return 'starting';
  const phase = [step.step, step.phase].filter(Boolean).join(' ');
  if (step.total === undefined || step.done === undefined) return phase;
  const share = step.total > 0 ? step.done / step.total : 0;
  const width = 30;
  const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
  return `[${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${phase}`;
}

/**
 * Waits for a task to close. On a terminal, a progress bar redrawn in place on stderr; elsewhere (a pipe,
 * a script) nothing until the end. Resolves to the closed task.
 */
export async function followTask(api: Api, id: string): Promise<Task> {
  const tty = process.stderr.isTTY;
  for (;;) {
    const task = await api.waitForTask(id, Date.now() + (tty ? 1000 : 30_000));
    if (task.state !== 'running') {
      if (tty) process.stderr.write('\r\x1b[K');
      return task;
    }
    if (tty)
      process.stderr.write(`\r\x1b[K${progressLine(task).slice(0, (process.stderr.columns ?? 80) - 1)}`);
  }
}

/** Prints a task as JSON, or as the lines a person reads; exit code 0 only for a completed task. */
export function printTask(task: Task, json: boolean): number {
  if (json) console.log(JSON.stringify(task, null, 2));
  else {
    console.log(`${task.id}  ${task.state}  ${task.summary ?? task.type}`);
    if (task.state === 'running') console.log(`  ${progressLine(task)}`);
    if (task.error) console.log(`  error: ${task.error}`);
    if (task.result !== undefined && task.state === 'completed')
      console.log(JSON.stringify(task.result, null, 2));
  }
  return task.state === 'completed' || task.state === 'running' ? 0 : 1;
}
