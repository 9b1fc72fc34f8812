import type { WorkerQueue } from '../../runtime/stack';
import { UsageError, type CliCommand } from '../command';
import { oneOf, parseOptions } from '../options';
import { serve } from './roles';

const QUEUES = ['appliance', 'compose'] as const satisfies readonly WorkerQueue[];

const usage = `Usage: lamina worker [--queue appliance|compose]

Runs workflows and activities from TEMPORAL_ADDRESS against DATABASE_URL until SIGINT/SIGTERM.
Without --queue it polls both task queues, as one host of a small deployment does:
  appliance  workflows and the appliance's activities (records, VMs, copies to publish targets)
             on LAMINA_TASK_QUEUE, and watches connectors' VMs for power-offs
  compose    the disk-heavy activities (compose, layer disks) on LAMINA_COMPOSE_TASK_QUEUE, at most
             LAMINA_COMPOSE_CONCURRENCY at once
Scale out by running more of either kind, on this host or others: every worker must see the same
LAMINA_DATA_DIR (scratch, uploads) and LAMINA_REPOSITORY_DIR at the same paths, and use the same
master key (LAMINA_MASTER_KEY, or the same LAMINA_MASTER_KEY_FILE).`;

export const workerCommand: CliCommand = {
  usage,
  run(args) {
    const options = parseOptions(args, { queue: 'value' });
    if (options.positional.length > 0) throw new UsageError(`unexpected argument '${options.positional[0]}'`);
    const queue = options.values.get('queue');
    return serve({
      api: false,
      worker: true,
      embedded: false,
      workerQueues: queue === undefined ? [...QUEUES] : [oneOf(queue, QUEUES, 'queue')],
    });
  },
};
