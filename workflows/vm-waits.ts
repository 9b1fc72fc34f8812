import { condition } from '@temporalio/workflow';

/** The longest gap between two fallback polls: a wait of weeks stays a few hundred events long. */
const MAX_POLL_MS = 3600_000;

/**
 * Waits until `arrived()` (set by a signal) or `check()` (a poll, the fallback when a signal is
 * missed) says so, or until `timeoutMs` passes. The wait is durable: it survives worker and server
 * restarts, and costs a timer and a poll per interval, the interval doubling from `pollMs` up to an
 * hour, so a packaging machine that waits days for its admin does not grow the history without bound.
 * Resolves false on timeout.
 */
export async function waitFor(
  arrived: () => boolean,
  check: () => Promise<boolean>,
  pollMs: number,
  timeoutMs = Infinity,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let interval = pollMs;
  while (!arrived()) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    if (await condition(arrived, Math.min(interval, remaining))) return true;
    if (await check()) return true;
    interval = Math.min(interval * 2, Math.max(pollMs, MAX_POLL_MS));
  }
  return true;
}
