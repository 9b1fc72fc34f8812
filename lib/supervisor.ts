/**
 * Restarts a service the appliance started (the Temporal dev server, the private PostgreSQL cluster)
 * when it ends by itself, with back-off, logging each step. A run shorter than QUICK_FAILURE_MS counts as
 * a quick failure; each quick failure in a row waits the next delay before the restart, and past the last
 * delay supervision gives up (the service cannot run here: a broken database file, a port someone else
 * took), since restarting forever would hide that.
 */

/** One running instance of the service: `ended` settles with why it ended ("was killed (SIGKILL)"). */
export interface SupervisedRun {
  pid?: number;
  ended: Promise<string>;
}

export interface SupervisorOptions {
  /** What the log lines name: "Temporal dev server". */
  what: string;
  log: (line: string) => void;
  /** Starts the service again; rejects when it does not come up. */
  relaunch: () => Promise<SupervisedRun>;
  /** Where to look when it gives up (the service's own log). */
  logFile: string;
  restartDelaysMs?: readonly number[];
}

export interface Supervisor {
  /** Settles with the reason when the service kept dying and supervision gave up; never settles otherwise. */
  failed: Promise<Error>;
  /** Ends supervision and waits for a restart under way; the caller then stops the service itself. */
  stop(): Promise<void>;
}

const QUICK_FAILURE_MS = 60_000;
const RESTART_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000];

/** Watches `first` (already running) and every run after it. */
export function supervise(first: SupervisedRun, options: SupervisorOptions): Supervisor {
  const { what, log } = options;
  const delays = options.restartDelaysMs ?? RESTART_DELAYS_MS;
  let stopping = false;
  let quickFailures = 0;
  let timer: NodeJS.Timeout | undefined;
  let launching: Promise<void> | undefined;
  let giveUp: (reason: Error) => void = () => undefined;
  const failed = new Promise<Error>((resolve) => (giveUp = resolve));

  const scheduleRestart = (reason: string) => {
    if (stopping) return;
    if (quickFailures > delays.length) {
      const message =
        `${what} ${reason}; it failed ${quickFailures} times in a row, each within ` +
        `${QUICK_FAILURE_MS / 1000} s of its start, so it is not restarted again (its log: ${options.logFile})`;
      log(message);
      giveUp(new Error(message));
      return;
    }
    const delay = delays[quickFailures - 1];
    log(`${what} ${reason}; restarting it in ${delay / 1000} s`);
    timer = setTimeout(() => {
      launching = relaunch();
    }, delay);
  };
  const relaunch = async () => {
    const startedAt = Date.now();
    let run: SupervisedRun;
    try {
      if (stopping) return;
      run = await options.relaunch();
    } catch (err) {
      quickFailures += 1;
      scheduleRestart(`did not start again: ${(err as Error).message}`);
      return;
    }
    log(`${what} restarted${run.pid === undefined ? '' : ` (pid ${run.pid})`}`);
    watch(run, startedAt);
  };
  const watch = (run: SupervisedRun, startedAt: number) => {
    void run.ended.then((reason) => {
      if (stopping) return;
      quickFailures = Date.now() - startedAt < QUICK_FAILURE_MS ? quickFailures + 1 : 1;
      scheduleRestart(reason);
    });
  };
  watch(first, Date.now());

  return {
    failed,
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await launching;
    },
  };
}
