import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ENGINE_ENVIRONMENT_KEY } from '../../connectors/vsphere/ce-host/engine-vms';
import { listObjects } from '../../connectors/vsphere/property-collector';
import { extraConfigOf } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { projectRoot } from '../../lib/project-root';
import { isAlive, processRecord, type ProcessRecord } from '../../lib/processes';

/**
 * The guests of Compositing Engine VMs on vcsim, which runs none: what the engine template's boot unit
 * does in a real engine VM, done here on the test machine. For every powered-on VM in the connector's
 * folder that carries an engine environment in guestinfo, it starts `lamina ce` with that environment
 * (as `vmtoolsd --cmd "info-get guestinfo.lamina.ce.environment"` would hand it over), and it ends the
 * process when its VM is powered off or destroyed, as the VM's end ends the guest.
 */
export class EngineGuests {
  /** Engine id → the `lamina ce` process standing in for its VM's guest. */
  readonly running = new Map<string, ProcessRecord>();
  /** Changes an engine's environment before it starts (a guest whose configuration went wrong). */
  tamper: (environment: Record<string, string>) => Record<string, string> = (e) => e;
  private readonly started = new Set<string>();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly inspector: VsphereConnector,
    private readonly logDir: string,
  ) {
    this.loop = this.watch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    for (const id of [...this.running.keys()]) this.end(id);
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.look();
      } catch (err) {
        if (!this.stopped) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async look(): Promise<void> {
    const session = await this.inspector.session();
    const vms = await listObjects(
      session.client,
      'VirtualMachine',
      ['config.extraConfig', 'runtime.powerState'],
      session.folder.ref,
    );
    const on = new Map<string, string>();
    for (const vm of vms) {
      const config = extraConfigOf(vm.props.get('config.extraConfig'));
      const environment = config.get(ENGINE_ENVIRONMENT_KEY);
      if (environment && vm.props.get('runtime.powerState')?.text === 'poweredOn')
        on.set(config.get('lamina.engine')!, environment);
    }
    for (const [id, environment] of on) if (!this.started.has(id)) this.boot(id, environment);
    for (const id of [...this.running.keys()]) if (!on.has(id)) this.end(id);
  }

  private boot(id: string, encoded: string): void {
    this.started.add(id);
    const environment = this.tamper(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')));
    const log = fs.openSync(path.join(this.logDir, `${id}.log`), 'a');
    // The guest's own disk, which goes with its VM.
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
