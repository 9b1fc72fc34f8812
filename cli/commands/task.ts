import type { Task } from '../../api/tasks/task-service';
import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions } from '../options';
import { followTask, printTask } from './task-follow';

const usage = `Usage:
  lamina task list [--type TYPE] [--state STATE] [--json]
  lamina task get TASK [--json]
  lamina task wait TASK [--json]
  lamina task stop TASK [--wait] [--json]
  lamina task retry TASK [--wait] [--json]

Tasks of the running appliance (GET /api/tasks...), as the Citrix.AppLayering cmdlets Get-ALTask,
Wait-ALTask and Stop-ALTask show them. wait follows the task to its end (a progress bar on a terminal);
stop cancels it, and the task removes what it made; retry starts a new run of a failed, cancelled or
timed-out task with the same input and prints the new task. The exit code is 0 for a completed (or,
without --wait, a running) task, 1 otherwise.
${API_OPTION_HELP}`;

export const taskCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    const options = parseOptions(rest, {
      type: 'value',
      state: 'value',
      json: 'flag',
      wait: 'flag',
      api: 'value',
    });
    const json = options.flags.has('json');
    const api = applianceApi(options);
    if (sub === 'list') {
      const query = new URLSearchParams();
      for (const name of ['type', 'state']) {
        const value = options.values.get(name);
        if (value) query.set(name, value);
      }
      const page = await api.get<{ items: Task[] }>(`/api/tasks?${query}`);
      if (json) console.log(JSON.stringify(page.items, null, 2));
      else for (const t of page.items) console.log(`${t.id}  ${t.state.padEnd(10)}  ${t.summary ?? t.type}`);
      return 0;
    }
    if (options.positional.length !== 1)
      throw new UsageError(`${sub ?? 'task'} takes one task id\n\n${usage}`);
    const id = encodeURIComponent(options.positional[0]);
    switch (sub) {
      case 'get':
        return printTask(await api.get<Task>(`/api/tasks/${id}`), json);
      case 'wait':
        return printTask(await followTask(api, options.positional[0]), json);
      case 'stop': {
        const stopped = await api.post<Task>(`/api/tasks/${id}/stop`, {});
        return printTask(options.flags.has('wait') ? await followTask(api, stopped.id) : stopped, json);
      }
      case 'retry': {
        const started = await api.post<Task>(`/api/tasks/${id}/retry`, {});
        return printTask(options.flags.has('wait') ? await followTask(api, started.id) : started, json);
      }
      default:
        throw new UsageError(`unknown task command ${sub ?? '(none)'}\n\n${usage}`);
    }
  },
};
