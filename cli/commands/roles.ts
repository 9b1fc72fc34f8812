import { loadConfig } from '../../config/env';
import type { Stack, StackOptions } from '../../runtime/stack';
import type { CliCommand } from '../command';

function log(line: string): void {
  console.log(`[lamina] ${line}`);
}

/** Resolves when the process is asked to stop (Ctrl-C or a service manager's SIGTERM). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Starts a stack, reports it, optionally runs `afterStart`, then stays up until a signal unless told not to. */
export async function serve(
  options: Omit<StackOptions, 'log'>,
  afterStart?: (stack: Stack) => Promise<number>,
  stayUp = true,
): Promise<number> {
  const config = loadConfig();
  // Loaded here, not at the top: the stack pulls in Temporal (about a second of start-up) that
  // every other command, e.g. `lamina compose`, would otherwise pay for.
  const { startStack } = await import('../../runtime/stack');
  const stack = await startStack(config, { ...options, log });
  try {
    if (stack.apiUrl) log(`API:            ${stack.apiUrl}   (health: ${stack.apiUrl}/readyz)`);
    log(`Temporal:       ${stack.temporalAddress} namespace '${config.temporal.namespace}'`);
    if (stack.temporalUiUrl)
      log(`Temporal Web UI: ${stack.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows`);
    const code = afterStart ? await afterStart(stack) : 0;
    if (!stayUp) return code;
    log('running; press Ctrl-C to stop');
    const signal = await untilSignal();
    log(`${signal} received, stopping`);
    return code;
  } finally {
    await stack.stop();
    log('stopped');
  }
}

export const apiCommand: CliCommand = {
  usage: [
    'Usage: lamina api',
    '',
    'Serves the API on LAMINA_API_HOST:LAMINA_API_PORT against TEMPORAL_ADDRESS and DATABASE_URL',
    'until SIGINT/SIGTERM. Runs database migrations at start.',
  ].join('\n'),
  run: () => serve({ api: true, worker: false, embedded: false }),
};
