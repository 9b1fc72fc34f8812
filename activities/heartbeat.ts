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
