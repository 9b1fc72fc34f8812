import type { PowerState, ScriptsReport, Snapshot, VmSpec } from '../connectors/vm-host';
import { vmHostOf, type ConnectorAccessDeps } from './connector-access';

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
export function createVmActivities(deps: ConnectorAccessDeps) {
  const host = (connectorId: string) => vmHostOf(deps, connectorId);
  return {
    async uploadDisk(connectorId: string, name: string, file: string): Promise<void> {
      await (await host(connectorId)).uploadDisk(name, file);
    },
    async deleteDisk(connectorId: string, name: string): Promise<void> {
      await (await host(connectorId)).deleteDisk(name);
    },
    async createVm(connectorId: string, spec: VmSpec): Promise<void> {
      await (await host(connectorId)).createVm(spec);
    },
    async powerOnVm(connectorId: string, vmId: string): Promise<void> {
      await (await host(connectorId)).powerOn(vmId);
    },
    async shutdownVm(connectorId: string, vmId: string): Promise<void> {
      await (await host(connectorId)).shutdown(vmId);
    },
    async snapshotVm(connectorId: string, vmId: string, name: string): Promise<Snapshot> {
      return (await host(connectorId)).snapshot(vmId, name);
    },
    async destroyVm(connectorId: string, vmId: string): Promise<void> {
      await (await host(connectorId)).destroy(vmId);
    },
    async exportVmDisk(connectorId: string, vmId: string, disk: string): Promise<string> {
      return (await host(connectorId)).exportDisk(vmId, disk);
    },
    async vmStatus(connectorId: string, vmId: string): Promise<VmStatus> {
      const vm = await (await host(connectorId)).getVm(vmId);
      return vm ? { exists: true, power: vm.power, scriptsReport: vm.scriptsReport } : { exists: false };
    },
  };
}

export type VmActivities = ReturnType<typeof createVmActivities>;
