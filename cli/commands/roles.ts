import os from 'node:os';
import { loadConfig } from '../../config/env';
import type { Stack, StackOptions } from '../../runtime/stack';
import type { CliCommand } from '../command';

function log(line: string): void {
  console.log(`[lamina] ${line}`);
}

/**
 * Listens for SIGINT/SIGTERM (Ctrl-C, a service manager's stop) from the very start, so a signal during
 * start-up, the diagnostics or the demo does not end the process before it stops what it started.
 * `received` resolves at the first; a second one exits at once (what is left running, the next start
 * in the same data folder stops).
 */
function listenForSignals(): { received: Promise<NodeJS.Signals>; first(): NodeJS.Signals | undefined } {
  let first: NodeJS.Signals | undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (first) {
        log(`${signal} received again: exiting without stopping; the next start stops what is left`);
        process.exit(128 + os.constants.signals[signal]);
      }
      first = signal;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return { received, first: () => first };
}

type Ending = { code: number } | { signal: NodeJS.Signals } | { failure: Error };

/**
 * Starts a stack, reports it, optionally runs `afterStart`, then stays up unless told not to: until a
 * signal, or until an embedded service dies for good (exit code 1). Everything started is stopped.
 * A signal before `afterStart` finished makes the exit code 128 + its number, as a shell reports it.
 */
export async function serve(
  options: Omit<StackOptions, 'log'>,
  afterStart?: (stack: Stack) => Promise<number>,
  stayUp = true,
): Promise<number> {
  const config = loadConfig();
  const signals = listenForSignals();
  // Loaded here, not at the top: the stack pulls in Temporal (about a second of start-up) that
  // every other command, e.g. `lamina compose`, would otherwise pay for.
  const { startStack } = await import('../../runtime/stack');
  const stack = await startStack(config, { ...options, log });
  const interruption = Promise.race([
    signals.received.then((signal): Ending => ({ signal })),
    stack.failed.then((failure): Ending => ({ failure })),
  ]);
  try {
    if (stack.apiUrl) log(`API:            ${stack.apiUrl}   (health: ${stack.apiUrl}/readyz)`);
    log(`Temporal:       ${stack.temporalAddress} namespace '${config.temporal.namespace}'`);
    if (stack.temporalUiUrl)
      log(`Temporal Web UI: ${stack.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows`);
    const early = signals.first();
    let ending: Ending = early
      ? { signal: early }
      : await Promise.race([
          (afterStart ? afterStart(stack) : Promise.resolve(0)).then((code): Ending => ({ code })),
          interruption,
        ]);
    let code = 0;
    if ('code' in ending) {
      code = ending.code;
      if (!stayUp) return code;
      log('running; press Ctrl-C to stop');
      ending = await interruption;
    } else if ('signal' in ending) {
      code = 128 + os.constants.signals[ending.signal];
    }
    if ('failure' in ending) {
      log(`stopping: ${ending.failure.message}`);
      return 1;
    }
    if ('signal' in ending) log(`${ending.signal} received, stopping`);
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
