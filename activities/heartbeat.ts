import { Context } from '@temporalio/activity';

/**
 * Heartbeat details every long activity reports (ARCHITECTURE.md §1): small, `{phase, done, total}`
 * for the task's progress, plus a resume token the next attempt continues from after a worker crash.
 */
export interface HeartbeatDetails<Resume = undefined> {
  phase: string;
  done: number;
  total: number;
  resume?: Resume;
}

/**
 * The longest a worker holds back an activity's heartbeat (the workers' maxHeartbeatThrottleInterval).
 * A stop reaches a running activity only in Temporal's answer to a heartbeat, and the SDK's default
 * throttle is 80% of the heartbeat timeout (8 s of 10): a compose stopped in its first seconds ran to
 * its end. Two heartbeats a second per running activity keep a stop, and the progress a task shows,
 * that fresh.
 */
export const HEARTBEAT_THROTTLE = '500 milliseconds';

/** A progress listener that heartbeats; the SDK throttles the calls, so it may be called per chunk. */
export function heartbeatProgress<Resume = undefined>(
  phasePrefix?: string,
): (progress: { phase?: string; done: number; total: number; resume?: Resume }) => void {
  return ({ phase, done, total, resume }) => {
    const name = [phasePrefix, phase].filter(Boolean).join(' ');
    const details: HeartbeatDetails<Resume> = {
      phase: name,
      done,
      total,
      ...(resume === undefined ? {} : { resume }),
    };
    Context.current().heartbeat(details);
  };
}

/** The resume token of the previous attempt's last heartbeat, if it got that far. */
export function previousResumeToken<Resume>(): Resume | undefined {
  return (Context.current().info.heartbeatDetails as HeartbeatDetails<Resume> | undefined)?.resume;
}
