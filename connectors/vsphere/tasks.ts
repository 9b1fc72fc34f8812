import { readProperties } from './property-collector';
import type { VimClient } from './vim-client';
import { describeMoRef, vimFaultFrom, VimFault, type MoRef } from './vim-fault';
import type { XmlElement } from './xml';

/** Progress in the shape activities heartbeat: `{ phase, done, total }`. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
}
export type ProgressCallback = (progress: Progress) => void;

/**
 * Waits for a vCenter Task by polling its `info` (state, progress, result, error). Polling rather
 * than WaitForUpdatesEx keeps one request in flight at a time and survives a re-login transparently;
 * a task runs for seconds to minutes, so a poll interval growing to 2 s costs nothing noticeable.
 */
export async function waitForTask(
  client: VimClient,
  task: MoRef,
  operation: string,
  options: { onProgress?: ProgressCallback; signal?: AbortSignal } = {},
): Promise<XmlElement | undefined> {
  let delay = 100;
  for (;;) {
    let info: XmlElement | undefined;
    try {
      info = (await readProperties(client, task, ['info'])).get('info');
    } catch (err) {
      if (err instanceof VimFault && err.fault === 'ManagedObjectNotFound') {
        throw new VimFault(
          'ManagedObjectNotFound',
          `vCenter no longer knows ${describeMoRef(task)}; it was restarted or the task expired, so its outcome is unknown`,
          operation,
          describeMoRef(task),
        );
      }
      throw err;
    }
    const state = info?.textOf('state');
    if (state === 'success') return info?.child('result');
    if (state === 'error') {
      const error = info!.child('error');
      throw vimFaultFrom(error?.child('fault'), error?.textOf('localizedMessage') ?? '', operation);
    }
    options.onProgress?.({ phase: operation, done: Number(info?.textOf('progress') ?? 0), total: 100 });
    if (options.signal?.aborted) {
      await client.invoke('CancelTask', task).catch(() => undefined);
      throw options.signal.reason ?? new Error('aborted');
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2_000);
  }
}
