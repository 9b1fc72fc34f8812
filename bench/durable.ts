import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * Benchmarks time a tool until its output is on disk. Lamina fsyncs what it writes before
 * giving it its name (a crash must never leave a renamed but incomplete image); `cp` and
 * `qemu-img convert` return with the data still in the page cache, so each peer's time includes
 * a `sync` of its output file, and the three are compared doing the same work.
 */
export interface Measured {
  seconds: number;
  /** Peak RSS of the tool's process, MiB. */
  peakRssMiB: number;
  /** CPU time (user + system) the tool's process used, seconds. */
  cpuSeconds: number;
}

let dropWarned = false;

/**
 * Puts the machine in the same state before every measured run: nothing waiting to be written
 * back (sync) and nothing cached (every tool reads its inputs from disk, as a first compose or
 * conversion of the day would). Dropping caches needs root; without it the runs start warm and
 * whichever tool's input happens to be cached is favoured, which is said once.
 */
export function settle(): void {
  execFileSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    if (!dropWarned)
      console.error('note: cannot drop the page cache (not root): runs start with warm caches');
    dropWarned = true;
  }
}

/**
 * Runs `command` under /usr/bin/time (in `env`, default this process's environment), then syncs
 * `output`; wall seconds, the tool's peak RSS and CPU time.
 */
export function measureUntilDurable(
  command: string,
  args: string[],
  output: string,
  env: NodeJS.ProcessEnv = process.env,
): Measured {
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M %U %S', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
    env,
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  execFileSync('sync', [output]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const lines = result.stderr.trim().split('\n');
  const [rssKiB, user, system] = lines[lines.length - 1].split(' ').map(Number);
  return { seconds, peakRssMiB: rssKiB / 1024, cpuSeconds: user + system };
}
