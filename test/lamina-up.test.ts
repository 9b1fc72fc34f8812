import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  freePort,
  isAlive,
  isPortOpen,
  processRecord,
  readPidFile,
  type ProcessRecord,
} from '../lib/processes';
import { projectRoot } from '../lib/project-root';
import { testDir } from './harness';

interface Up {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * `bin/lamina up --no-demo` as a user runs it, on its own data folder and free ports, in a session of
 * its own (as a terminal would give it), so SIGINT reaches it like Ctrl-C. Resolves once it says it runs.
 */
async function startUp(env: Record<string, string>): Promise<Up> {
  const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'up', '--no-demo'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const up = { child, output: () => output, exited };
  const deadline = Date.now() + 120_000;
  while (!output.includes('running; press Ctrl-C to stop')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`lamina up did not come up (exit code ${child.exitCode}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return up;
}

/** Every live process whose command line names the folder: what a `lamina up` on it runs. */
function processesUsing(dataDir: string): ProcessRecord[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => processRecord(Number(name)))
    .filter((p): p is ProcessRecord => p !== undefined && p.command.some((arg) => arg.includes(dataDir)));
}

/** The PostgreSQL server of the data folder's cluster, from its own pid file. */
function postmasterOf(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  return fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8').split('\n')[0]) : undefined;
}

/** A process that existed and is gone, as a compose killed mid-way leaves its owner record behind. */
async function deadProcess(): Promise<ProcessRecord> {
  const sleeper = spawn('sleep', ['60']);
  const record = processRecord(sleeper.pid!)!;
  sleeper.kill('SIGKILL');
  await new Promise((resolve) => sleeper.once('exit', resolve));
  return record;
}

describe('lamina up', () => {
  const running: Up[] = [];
  afterAll(async () => {
    // A failed test must not leave its appliance running: stopped as a service manager would.
    for (const up of running) {
      if (up.child.exitCode !== null || up.child.signalCode !== null) continue;
      up.child.kill('SIGTERM');
      await up.exited;
    }
  });

  it('starts again after it was killed, leaving no orphan, and a signal stops everything it started', async () => {
    const dataDir = path.join(testDir('up'), 'data');
    const tmp = testDir('up-tmp');
    const ports = {
      LAMINA_API_PORT: String(await freePort()),
      LAMINA_TEMPORAL_PORT: String(await freePort()),
      LAMINA_TEMPORAL_UI_PORT: String(await freePort()),
    };
    const env = {
      ...ports,
      LAMINA_DATA_DIR: dataDir,
      LAMINA_REPOSITORY_MIN_FREE_GIB: '0',
      LAMINA_DIAGNOSTICS_PROBE_MIB: '4',
      TMPDIR: tmp,
    };
    const temporalPidFile = path.join(dataDir, 'temporal', 'server.pid');

    const first = await startUp(env);
    running.push(first);
    const firstTemporal = readPidFile(temporalPidFile)!;
    const postgres = postmasterOf(dataDir)!;
    first.child.kill('SIGKILL');
    await first.exited;
    // What the kill leaves: the Temporal dev server and PostgreSQL still run, and a compose killed
    // mid-way left its volume folder (its owner is gone) while a live process's folder is in use.
    expect(isAlive(firstTemporal)).toBe(true);
    expect(processRecord(postgres)).toBeDefined();
    const dead = await deadProcess();
    const self = processRecord(process.pid)!;
    const orphanFolder = path.join(tmp, `lamina-volume-${dead.pid}-${dead.startTime}-a1b2c3`);
    const liveFolder = path.join(tmp, `lamina-volume-${self.pid}-${self.startTime}-d4e5f6`);
    // An older Lamina named its folders without their owner: one from before this start goes too.
    const unownedFolder = path.join(tmp, 'lamina-volume-Xy12Zq');
    for (const folder of [orphanFolder, liveFolder, unownedFolder]) {
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'volume.map'), '');
    }
    const anHourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(unownedFolder, anHourAgo, anHourAgo);

    const second = await startUp(env);
    running.push(second);
    expect(second.output()).toContain('stopped the Temporal dev server a previous run left running');
    expect(second.output()).toContain('removed 2 folder(s) of killed composes');
    const secondTemporal = readPidFile(temporalPidFile)!;
    expect(isAlive(firstTemporal)).toBe(false);
    // PostgreSQL was adopted, not started twice; it and the new Temporal are all that run on the folder.
    expect(postmasterOf(dataDir)).toBe(postgres);
    expect(
      processesUsing(dataDir)
        .map((p) => p.pid)
        .sort(),
    ).toEqual([postgres, secondTemporal.pid].sort());
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('lamina-volume-'))).toEqual([
      path.basename(liveFolder),
    ]);

    // Ctrl-C stops everything it runs, the adopted PostgreSQL included.
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain('SIGINT received, stopping');
    expect(processesUsing(dataDir)).toEqual([]);
    expect(processRecord(postgres)).toBeUndefined();
    for (const file of [
      temporalPidFile,
      path.join(dataDir, 'lamina.pid'),
      path.join(dataDir, 'postgres', 'postmaster.pid'),
    ])
      expect(fs.existsSync(file)).toBe(false);

    // A clean start after a clean stop; a service manager's SIGTERM stops it all the same.
    const third = await startUp(env);
    running.push(third);
    expect(processesUsing(dataDir)).toHaveLength(2);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
    for (const port of Object.values(ports)) expect(await isPortOpen(Number(port))).toBe(false);
  }, 300_000);

  it('says which folder the PostgreSQL service user cannot traverse, and what it needs', async () => {
    const locked = testDir('locked');
    fs.chmodSync(locked, 0o700);
    const dataDir = path.join(locked, 'data');
    const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'up', '--no-demo'], {
      env: {
        PATH: process.env.PATH,
        LAMINA_DATA_DIR: dataDir,
        LAMINA_API_PORT: String(await freePort()),
        LAMINA_TEMPORAL_PORT: String(await freePort()),
        LAMINA_TEMPORAL_UI_PORT: String(await freePort()),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr:
        `lamina up: the PostgreSQL service user 'lamina' cannot traverse ${locked} (mode 0700): ` +
        `give it o+x (chmod o+x ${locked}) or choose another LAMINA_DATA_DIR\n`,
    });
    expect(processesUsing(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'lamina.pid'))).toBe(false);
  }, 60_000);
});
