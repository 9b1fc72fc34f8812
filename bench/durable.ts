import { execFileSync, spawnSync } from 'node:child_process';

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
}

/** Runs `command` under /usr/bin/time, then syncs `output`; wall seconds and the tool's peak RSS. */
export function measureUntilDurable(command: string, args: string[], output: string): Measured {
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  execFileSync('sync', [output]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const lines = result.stderr.trim().split('\n');
  return { seconds, peakRssMiB: Number(lines[lines.length - 1]) / 1024 };
}
