import { CancellationScope, log, patched } from '@temporalio/workflow';

/**
 * Compensations (ARCHITECTURE.md §6): every step that creates something outside Lamina registers
 * how to undo it *before* it runs, so a failure or a stop at any point, even half-way through that
 * step, leaves nothing behind. Undo actions must be idempotent; they run newest first, and even when
 * the workflow is being cancelled.
 */
/**
 * A registered undo, as `register` returns it: `settle` and `keep` take this handle rather than a
 * name, so they can only ever act on a step that was registered (a mistyped name used to do nothing).
 */
export interface Compensation {
  readonly what: string;
}

/**
 * Tasks started before this forgot a settled undo even when it failed: a stop that landed as an
 * offloaded compose finished cancelled the engine's removal in settle, and the engine stayed.
 */
const SETTLE_KEEPS_FAILED_UNDO = 'settle-keeps-failed-undo';

interface Step extends Compensation {
  undo: () => Promise<unknown>;
}

export class Saga {
  private readonly steps: Step[] = [];

  register(what: string, undo: () => Promise<unknown>): Compensation {
    const step: Step = { what, undo };
    this.steps.push(step);
    return step;
  }

  /**
   * Runs one registered undo now because its work is done (a temporary disk, the packaging VM).
   * `undefined` is a step this run did not register (a branch not taken); a settled step runs once.
   */
  async settle(compensation: Compensation | undefined): Promise<void> {
    const step = this.steps.find((s) => s === compensation);
    if (!step) return;
    try {
      await step.undo();
    } catch (err) {
      // Failed or cancelled (a stop): the undo stays registered, so the compensation runs it again.
      if (!patched(SETTLE_KEEPS_FAILED_UNDO)) this.take(step);
      throw err;
    }
    this.take(step);
  }

  /** Forgets an undo: what it would remove is now a result of the task (the published file). */
  keep(compensation: Compensation | undefined): void {
    this.take(compensation);
  }

  private take(compensation: Compensation | undefined): Step | undefined {
    const index = this.steps.findIndex((s) => s === compensation);
    return index < 0 ? undefined : this.steps.splice(index, 1)[0];
  }

  async compensate(): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.undo();
        } catch (err) {
          log.error(`compensation '${step.what}' failed; it needs manual clean-up`, { error: String(err) });
        }
      }
    });
  }
}

/** Runs `body`; when it fails or is cancelled, compensates what it registered, then fails the same way. */
export async function withSaga<T>(body: (saga: Saga) => Promise<T>): Promise<T> {
  const saga = new Saga();
  try {
    return await body(saga);
  } catch (err) {
    await saga.compensate();
    throw err;
  }
}
