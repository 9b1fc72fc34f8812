import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/project-root';
import { isAlive, processRecord, type ProcessRecord } from '../../lib/processes';

/**
 * The guests of Compositing Engine VMs on a simulated platform that runs none (vcsim, the ARM fake):
 * what the engine image's boot unit does in a real VM, done here on the test machine. Every 200 ms it
 * asks the platform which engine VMs run (`runningEngines`: engine id → the launch environment the VM
 * carries, base64 JSON), starts `lamina ce` with that environment for each new one, and ends the
 * process when its VM stops running or is deleted, as the VM's end ends the guest.
 */
export abstract class EngineGuestProcesses {
  /** Engine id → the `lamina ce` process standing in for its VM's guest. */
  readonly running = new Map<string, ProcessRecord>();
  /** Engine id → the launch environment its VM carried, for every guest started, in order. */
  readonly environments = new Map<string, Record<string, string>>();

  /** Engine ids whose guest was started, in order. */
  get booted(): string[] {
    return [...this.environments.keys()];
  }

  /** Changes an engine's environment before it starts (a guest whose configuration went wrong). */
  tamper: (environment: Record<string, string>) => Record<string, string> = (e) => e;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly logDir: string) {
    this.loop = this.watch();
  }

  /** The engine VMs running now: engine id → their launch environment (base64 JSON). */
  protected abstract runningEngines(): Promise<Map<string, string>>;

  /** Whether engine `id`'s guest registered with its task (what `lamina ce` logs once admitted). */
  registered(id: string): boolean {
    return /registered with task/.test(fs.readFileSync(path.join(this.logDir, `${id}.log`), 'utf8'));
  }

  /** Whether a running guest registered: its task schedules the work on it at once. */
  anyRegistered(): boolean {
    return [...this.running.keys()].some((id) => this.registered(id));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    for (const id of [...this.running.keys()]) this.end(id);
  }

  private async watch(): Promise<void> {
    // The subclass's fields are set once its constructor returns: the first look waits for that.
    await Promise.resolve();
    while (!this.stopped) {
      try {
        const on = await this.runningEngines();
        for (const [id, environment] of on) if (!this.environments.has(id)) this.boot(id, environment);
        for (const id of [...this.running.keys()]) if (!on.has(id)) this.end(id);
      } catch (err) {
        if (!this.stopped) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private boot(id: string, encoded: string): void {
    const launched = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, string>;
    this.environments.set(id, launched);
    const environment = this.tamper(launched);
    const log = fs.openSync(path.join(this.logDir, `${id}.log`), 'a');
    // The guest's own disk (its temporary folder), which goes with its VM.
    const disk = path.join(this.logDir, id);
    fs.mkdirSync(disk, { recursive: true });
    const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'ce'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: disk, ...environment },
      detached: true,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    child.unref();
    const record = child.pid === undefined ? undefined : processRecord(child.pid);
    if (record) this.running.set(id, record);
  }

  /** The VM is gone: its guest with it, at once (a powered-off VM does not shut down politely). */
  private end(id: string): void {
    const record = this.running.get(id);
    this.running.delete(id);
    if (record && isAlive(record)) {
      try {
        process.kill(-record.pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    fs.rmSync(path.join(this.logDir, id), { recursive: true, force: true });
  }
}
