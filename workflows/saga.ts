import { CancellationScope, log } from '@temporalio/workflow';

/**
 * Compensations (ARCHITECTURE.md §6): every step that creates something outside Lamina registers
 * how to undo it *before* it runs, so a failure or a stop at any point, even half-way through that
 * step, leaves nothing behind. Undo actions must be idempotent; they run newest first, and even when
 * the workflow is being cancelled.
 */
export class Saga {
  private readonly steps: { what: string; undo: () => Promise<unknown> }[] = [];

  register(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  /** Runs one registered undo now because its work is done (a temporary disk, the packaging VM). */
  async settle(what: string): Promise<void> {
    const index = this.steps.findIndex((s) => s.what === what);
    if (index < 0) return;
    const [step] = this.steps.splice(index, 1);
    await step.undo();
  }

  /** Forgets an undo: what it would remove is now a result of the task (the published file). */
  keep(what: string): void {
    const index = this.steps.findIndex((s) => s.what === what);
    if (index >= 0) this.steps.splice(index, 1);
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
