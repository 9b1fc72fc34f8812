import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ENGINE_TAG } from '../../connectors/azure/resource-manager';
import { projectRoot } from '../../lib/project-root';
import { isAlive, processRecord, type ProcessRecord } from '../../lib/processes';
import type { ArmFake } from '../azure/arm-fake';

/**
 * The guests of Compositing Engine VMs in the ARM fake, which boots none: what the engine image's boot
 * unit does in a real Azure VM, done here on the test machine. For every engine VM (tagged with its
 * engine id) whose creation succeeded, it starts `lamina ce` with the environment the VM's custom data
 * carries (base64 JSON, as Azure provisioning hands it to the guest), and it ends the process when the
 * VM is deleted, as the VM's end ends the guest.
 */
export class AzureEngineGuests {
  /** Engine id → the `lamina ce` process standing in for its VM's guest. */
  readonly running = new Map<string, ProcessRecord>();
  /** Engine ids whose guest was started, in order. */
  readonly booted: string[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly arm: ArmFake,
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
      this.look();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private look(): void {
    const on = new Map<string, string>();
    for (const id of this.arm.resourceIds()) {
      const vm = this.arm.resource(id);
      if (vm?.type !== 'Microsoft.Compute/virtualMachines') continue;
      const engine = (vm.tags as Record<string, string> | undefined)?.[ENGINE_TAG];
      const props = vm.properties as { provisioningState?: string; osProfile?: { customData?: string } };
      if (engine && props.provisioningState === 'Succeeded' && props.osProfile?.customData)
        on.set(engine, props.osProfile.customData);
    }
    for (const [id, customData] of on) if (!this.booted.includes(id)) this.boot(id, customData);
    for (const id of [...this.running.keys()]) if (!on.has(id)) this.end(id);
  }

  private boot(id: string, customData: string): void {
    this.booted.push(id);
    const environment = JSON.parse(Buffer.from(customData, 'base64').toString('utf8')) as Record<
      string,
      string
    >;
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

  /** The VM is gone: its guest with it, at once. */
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
