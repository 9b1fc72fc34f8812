import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { netnsExec, netnsExists } from '../../config/engine-netns';
import { projectRoot } from '../../lib/project-root';
import { isAlive, processRecord, readPidFile, stopRecordedProcess, writePidFile } from '../../lib/processes';
import { EngineLaunchError, type CeHost, type EngineDestination, type EngineLaunch } from '../ce-host';
import type { LocalVmHost } from './local-vm-host';

/**
 * Compositing Engines of the `local` connector: `lamina ce` processes on the appliance, one per engine,
 * each leading a process group of its own (stopping it stops its lamina_ntfs children too).
 *
 *   <pool>/engines/<id>.pid   the engine's pid and start time (lib/processes.ts)
 *   <pool>/engines/<id>.log   what it printed
 *
 * A launch that names a network namespace runs the engine in it through `ip netns exec`, which enters
 * the namespace and execs the engine in the same process: the pid file names the engine itself.
 */
export class LocalCeHost implements CeHost {
  constructor(private readonly vms: LocalVmHost) {}

  private get dir(): string {
    return path.join(this.vms.pool, 'engines');
  }

  private pidFile(id: string): string {
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`engine id '${id}' is not a UUID`);
    return path.join(this.dir, `${id}.pid`);
  }

  async createEngine(launch: EngineLaunch): Promise<void> {
    const pidFile = this.pidFile(launch.id);
    const recorded = readPidFile(pidFile);
    if (recorded && isAlive(recorded)) return;
    const netns = launch.networkNamespace;
    // Checked here, not left to `ip`: an engine that cannot start would only show as one that never registers.
    if (netns && !netnsExists(netns))
      throw new EngineLaunchError(
        `network namespace '${netns}' (LAMINA_CE_NETNS) does not exist: \`ip netns add ${netns}\` makes it`,
      );
    fs.mkdirSync(this.dir, { recursive: true });
    const log = fs.openSync(path.join(this.dir, `${launch.id}.log`), 'a', 0o600);
    try {
      const [command, ...args] = [
        ...(netns ? netnsExec(netns) : []),
        process.execPath,
        path.join(projectRoot(), 'bin', 'lamina'),
        'ce',
      ];
      const child = spawn(command, args, {
        // Only what the engine needs: nothing else of the appliance's environment (its database) reaches it.
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TMPDIR: process.env.TMPDIR,
          ...launch.environment,
        },
        detached: true,
        stdio: ['ignore', log, log],
      });
      const started = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => resolve(child.pid!));
      });
      child.unref();
      const record = processRecord(started);
      // Gone already: it never registers, and the task's registration timeout says so.
      if (record) writePidFile(pidFile, record);
    } finally {
      fs.closeSync(log);
    }
  }

  async destroyEngine(id: string): Promise<void> {
    await stopRecordedProcess(this.pidFile(id), 5_000);
    fs.rmSync(path.join(this.dir, `${id}.log`), { force: true });
  }

  async listEngines(): Promise<string[]> {
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith('.pid')).map((name) => name.slice(0, -'.pid'.length));
  }

  async destinationOf(diskName: string): Promise<EngineDestination> {
    return { kind: 'file', path: this.vms.diskFile(diskName) };
  }
}
