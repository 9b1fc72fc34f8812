import { ApplicationFailure } from '@temporalio/activity';
import { installInGuest, reportScriptsInGuest } from '../connectors/local/guest';
import { LocalVmHost } from '../connectors/local/local-vm-host';
import { VmHostLookupError, type PowerState } from '../connectors/vm-host';
import { withConnector, type ConnectorAccessDeps } from './connector-access';

/** What happens inside a VM of the local connector, which has no hypervisor to run a guest. */
export type LocalVmStandIn =
  /** Files (a folder or zip), a .reg file and a deletions list, as paths the appliance reads (uploads). */
  | { action: 'install'; from?: string; reg?: string; deletions?: string }
  | { action: 'shutdown' }
  /** The first-start runner of an MCS master image reporting that the layers' scripts ran (a file on C:). */
  | { action: 'scripts-report'; ok: boolean; detail: string };

export type LocalVmStandInInput = LocalVmStandIn & { connectorId: string; vmId: string };

export interface LocalVmStandInResult {
  vmId: string;
  power: PowerState;
}

/**
 * The local connector's stand-ins as an activity, so writing into a VM's disk (the NTFS core) runs
 * in a task, not inside an HTTP request; `lamina vm install|shutdown|report` does the same from the CLI.
 * Each can run twice with the same effect: files are written again, a VM that is off stays off.
 */
export function createLocalVmStandInActivities(deps: ConnectorAccessDeps) {
  return {
    async runLocalVmStandIn(input: LocalVmStandInInput): Promise<LocalVmStandInResult> {
      return withConnector(deps, input.connectorId, async (connector) => {
        const host = connector.vms;
        if (!(host instanceof LocalVmHost))
          throw ApplicationFailure.nonRetryable(
            `a ${connector.type} connector's VMs run on the hypervisor: act inside them there`,
            'NotLocalConnector',
          );
        if (input.action === 'install') {
          const { from, reg, deletions } = input;
          await installInGuest(host, input.vmId, { from, reg, deletions });
        } else if (input.action === 'shutdown') await host.shutdown(input.vmId);
        else await reportScriptsInGuest(host, input.vmId, { ok: input.ok, detail: input.detail });
        const vm = await host.getVm(input.vmId);
        if (!vm) throw new VmHostLookupError(`VM '${input.vmId}' was removed while the stand-in ran`);
        return { vmId: vm.id, power: vm.power };
      });
    },
  };
}

export type LocalVmStandInActivities = ReturnType<typeof createLocalVmStandInActivities>;
