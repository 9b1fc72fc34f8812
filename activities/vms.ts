import type { PowerState, ScriptsReport, Snapshot, VmSpec } from '../connectors/vm-host';
import { withVmHost, type ConnectorAccessDeps } from './connector-access';
import { scratchFolder } from './scratch';

/** The state a workflow waits on: power, and for MCS master images the guest's scripts report. */
export interface VmStatus {
  exists: boolean;
  power?: PowerState;
  scriptsReport?: ScriptsReport;
}

/**
 * Connector VM operations for workflows (packaging machines, MCS master images). Each takes the
 * connector id and ids the workflow chose; the connector operations are idempotent, so are these.
 */
export function createVmActivities(deps: ConnectorAccessDeps & { scratchDir: string }) {
  return {
    async uploadDisk(connectorId: string, name: string, file: string): Promise<void> {
      await withVmHost(deps, connectorId, (host) => host.uploadDisk(name, file));
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
      return withVmHost(deps, connectorId, (host) => host.exportDisk(vmId, disk, into));
    },
    /** Where the VM's disk is, as the admin and the post-publish script see it (a path, a datastore path). */
    async vmDiskLocation(connectorId: string, vmId: string, disk: string): Promise<string> {
      return withVmHost(deps, connectorId, (host) => host.diskLocation(vmId, disk));
    },
    async vmStatus(connectorId: string, vmId: string): Promise<VmStatus> {
      const vm = await withVmHost(deps, connectorId, (host) => host.getVm(vmId));
      return vm ? { exists: true, power: vm.power, scriptsReport: vm.scriptsReport } : { exists: false };
    },
  };
}

export type VmActivities = ReturnType<typeof createVmActivities>;
