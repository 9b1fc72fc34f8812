/**
 * Compositing Engines (ARCHITECTURE.md §1): each polls a task queue of its own, Temporal's
 * worker-specific queue pattern, named after the engine.
 */
export function engineTaskQueue(engineId: string): string {
  return `ce-${engineId}`;
}
