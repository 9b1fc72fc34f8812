import { execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Runs a program to completion and returns its stdout; rejects with its stderr in the message. */
export function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs ?? 120_000,
        signal: options.signal,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err?.name === 'AbortError') {
          reject(err);
        } else if (err) {
          const detail = (stderr || stdout || err.message).toString().trim();
          reject(new Error(`${file} ${args.join(' ')} failed: ${detail}`));
        } else {
          resolve(stdout.toString());
        }
      },
    );
  });
}

/** Binds `port` on loopback (0: any) and lets go of it: the port bound, or undefined when it is taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

/** The first port of the kernel's ephemeral range, where listen(0) and outgoing connections take ports. */
function ephemeralPortsStart(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

/** Where freePort looks: below the ephemeral range, above the well-known and most registered services. */
const FREE_PORTS_FROM = 20_000;

/**
 * A TCP port free on loopback now, for a service started next (it binds the port itself, later). It is
 * taken below the kernel's ephemeral range: a port from listen(0) is free for any other listen(0) again
 * once let go, so a test running beside this one could be handed it before the service binds it (an
 * iSCSI target found its port taken by another test's API server). Falls back to listen(0) when the
 * range below is too small or full.
 */
export async function freePort(): Promise<number> {
  const end = ephemeralPortsStart();
  if (end - FREE_PORTS_FROM >= 1000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await tryPort(FREE_PORTS_FROM + Math.floor(Math.random() * (end - FREE_PORTS_FROM)));
      if (port !== undefined) return port;
    }
  }
  return (await tryPort(0))!;
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until `probe` resolves true; fails naming `what` after `timeoutMs`, or early if the child exits. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; child?: ChildProcess; log?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.child && options.child.exitCode !== null) {
      throw new Error(`${what} exited with code ${options.child.exitCode}${logTail(options.log)}`);
    }
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready within ${options.timeoutMs / 1000}s${logTail(options.log)}`);
}

function logTail(log?: () => string): string {
  const text = log?.().trim();
  return text ? `:\n${text.split('\n').slice(-15).join('\n')}` : '';
}

/**
 * Sends SIGTERM, then SIGKILL after `graceMs`, and resolves once the child has exited. A child spawned
 * `detached` leads a process group of its own: `group` signals that whole group, so nothing it started
 * outlives it.
 */
export function stopChild(child: ChildProcess, graceMs = 10_000, { group = false } = {}): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const signal = (name: NodeJS.Signals) => {
    if (group && child.pid !== undefined) signalGroup(child.pid, name);
    else child.kill(name);
  };
  return new Promise((resolve) => {
    const timer = setTimeout(() => signal('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    signal('SIGTERM');
  });
}

/** Signals the process group `leader` leads (a child spawned `detached`); a group already gone is fine. */
export function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Who a pid file names. A pid alone is not enough: the kernel hands a dead process's pid to the next one,
 * so the process's start time (clock ticks after boot) is kept too, and a process is only taken for the
 * recorded one when both match. The command line is kept for messages; it is not compared, since a
 * wrapper script that execs the real program changes it while the process stays the same.
 */
export interface ProcessRecord {
  pid: number;
  startTime: string;
  command: string[];
}

/** The live process `pid` as a record, or undefined when there is none (or only its zombie). */
export function processRecord(pid: number): ProcessRecord | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces and parentheses itself: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { pid, startTime: fields[19], command };
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` exists, as kill(pid, 0) tells (EPERM: it exists, another user's). A zombie not
 * yet reaped still exists: what PostgreSQL's own lock file check also sees.
 */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process a record names still runs (and is that process, not a later one with its pid). */
export function isAlive(record: ProcessRecord): boolean {
  return processRecord(record.pid)?.startTime === record.startTime;
}

/**
 * Writes `record` (see processRecord) to `file`, whole and then moved into place, so a reader never sees
 * half. `exclusive` refuses (EEXIST) when the file exists, so of two processes claiming it at once one wins.
 */
export function writePidFile(file: string, record: ProcessRecord, { exclusive = false } = {}): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  fs.writeFileSync(partial, `${JSON.stringify(record)}\n`);
  try {
    if (exclusive) fs.linkSync(partial, file);
    else fs.renameSync(partial, file);
  } finally {
    fs.rmSync(partial, { force: true });
  }
}

/** The record in a pid file; undefined when there is none or it is not one (a torn or foreign file). */
export function readPidFile(file: string): ProcessRecord | undefined {
  let value: Partial<ProcessRecord>;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ProcessRecord>;
  } catch {
    return undefined;
  }
  const valid =
    Number.isInteger(value.pid) &&
    (value.pid as number) > 0 &&
    typeof value.startTime === 'string' &&
    Array.isArray(value.command);
  return valid ? (value as ProcessRecord) : undefined;
}

/**
 * Stops the process a pid file names, if it is still that process, and its process group when it leads
 * one (a detached child of a run that was killed); SIGKILL after `graceMs`. Removes the file. Answers
 * whether there was something to stop.
 */
export async function stopRecordedProcess(file: string, graceMs = 10_000): Promise<boolean> {
  const record = readPidFile(file);
  const alive = record !== undefined && isAlive(record);
  if (alive) {
    const leadsGroup = processGroupOf(record.pid) === record.pid;
    const signal = (name: NodeJS.Signals) =>
      leadsGroup ? signalGroup(record.pid, name) : signalProcess(record.pid, name);
    signal('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(record) || (leadsGroup && groupHasMembers(record.pid))) {
      if (Date.now() > deadline) signal('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  fs.rmSync(file, { force: true });
  return alive;
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function processGroupOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

/** Whether any live (non-zombie) process is still in process group `group`. */
function groupHasMembers(group: number): boolean {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (processGroupOf(pid) === group && processRecord(pid)) return true;
  }
  return false;
}
