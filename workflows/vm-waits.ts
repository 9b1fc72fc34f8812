import { condition } from '@temporalio/workflow';

/**
 * Waits until `arrived()` (set by a signal) or `check()` (a poll, the fallback when a signal is
 * missed) says so, or until `timeoutMs` passes. The wait is durable: days of it cost a timer and a
 * poll every `pollMs`, and survive worker and server restarts. Resolves false on timeout.
 */
export async function waitFor(
  arrived: () => boolean,
  check: () => Promise<boolean>,
  pollMs: number,
  timeoutMs = Infinity,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!arrived()) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    if (await condition(arrived, Math.min(pollMs, remaining))) return true;
    if (await check()) return true;
  }
  return true;
}
