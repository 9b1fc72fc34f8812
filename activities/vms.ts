import { CancelledFailure, Context } from '@temporalio/activity';
import {
  VmHostLookupError,
  type PowerState,
  type ScriptsReport,
  type Snapshot,
  type TransferControl,
  type VmSpec,
} from '../connectors/vm-host';
import { withVmHost, type ConnectorAccessDeps } from './connector-access';
import type { HeartbeatDetails } from './heartbeat';
import { scratchFolder } from './scratch';

/** The state a workflow waits on: power, and for MCS master images the guest's scripts report. */
export interface VmStatus {
  power: PowerState;
  scriptsReport?: ScriptsReport;
}

/**
 * Runs a transfer to or from a hypervisor's storage, heartbeating its progress so a dead worker is
 * noticed and a stop reaches it (stopped, the transfer removes what it wrote). Steps that report
 * nothing (expanding a disk to raw, converting a download) still heartbeat, once a second.
 */
async function heartbeatingTransfer<T>(
  phase: string,
  transfer: (control: TransferControl) => Promise<T>,
): Promise<T> {
  const context = Context.current();
  const signal = context.cancellationSignal;
  let last: HeartbeatDetails = { phase, done: 0, total: 1 };
  const keepAlive = setInterval(() => context.heartbeat(last), 1000);
  try {
    return await transfer({
      signal,
      onProgress: ({ done, total }) => context.heartbeat((last = { phase, done, total })),
    });
  } catch (err) {
    throw signal.aborted ? new CancelledFailure(`${phase} stopped`) : err;
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * Connector VM operations for workflows (packaging machines, MCS master images). Each takes the
 * connector id and ids the workflow chose; the connector operations are idempotent, so are these.
 */
export function createVmActivities(deps: ConnectorAccessDeps & { scratchDir: string }) {
  return {
    /** Stores a disk on the hypervisor; a retry continues from what its storage already holds. */
    async uploadDisk(connectorId: string, name: string, file: string): Promise<void> {
      await heartbeatingTransfer('upload', (control) =>
        withVmHost(deps, connectorId, (host) => host.uploadDisk(name, file, control)),
      );
    },
    async deleteDisk(connectorId: string, name: string): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.deleteDisk(name));
    },
    async createVm(connectorId: string, spec: VmSpec): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.createVm(spec));
    },
    async powerOnVm(connectorId: string, vmId: string): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.powerOn(vmId));
    },
    async shutdownVm(connectorId: string, vmId: string): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.shutdown(vmId));
    },
    async snapshotVm(connectorId: string, vmId: string, name: string): Promise<Snapshot> {
      return withVmHost(deps, connectorId, (host) => host.snapshot(vmId, name));
    },
    async destroyVm(connectorId: string, vmId: string): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.destroy(vmId));
    },
    /**
     * A local path to read the VM's disk from. Hypervisors the appliance cannot read directly download
     * it into the task's scratch folder `scratchId`, which the task removes. Tasks started before the
     * scratch id was passed give none; they run on connectors that read in place.
     */
    async exportVmDisk(connectorId: string, vmId: string, disk: string, scratchId?: string): Promise<string> {
      const into = scratchId === undefined ? undefined : scratchFolder(deps.scratchDir, scratchId);
      return heartbeatingTransfer('download', (control) =>
        withVmHost(deps, connectorId, (host) => host.exportDisk(vmId, disk, into, control)),
      );
    },
    /** Where the VM's disk is, as the admin and the post-publish script see it (a path, a datastore path). */
    async vmDiskLocation(connectorId: string, vmId: string, disk: string): Promise<string> {
      return withVmHost(deps, connectorId, (host) => host.diskLocation(vmId, disk));
    },
    /**
     * A VM that a task waits on and that is gone (deleted by someone, or a hypervisor that lost its
     * inventory) fails the task at once, naming it: waiting on would never end.
     */
    async vmStatus(connectorId: string, vmId: string): Promise<VmStatus> {
      const vm = await withVmHost(deps, connectorId, async (host) => {
        const found = await host.getVm(vmId);
        if (!found)
          throw new VmHostLookupError(
            `VM ${vmId} no longer exists on the connector; it was removed outside Lamina`,
          );
        return found;
      });
      return { power: vm.power, scriptsReport: vm.scriptsReport };
    },
  };
}

export type VmActivities = ReturnType<typeof createVmActivities>;
