import { installIntoPackageDisk, type PackageInstall } from '../../compositor/package-disk';
import type { LocalVmHost } from './local-vm-host';

/**
 * What happens inside a guest of the local connector, which has no hypervisor to run one: the
 * stand-ins `lamina vm` and the API offer for an admin installing software on a packaging machine.
 */
export class GuestStateError extends Error {}

/** Installs into the running packaging machine's package disk, as an installer in the guest would. */
export async function installInGuest(
  host: LocalVmHost,
  vmId: string,
  install: PackageInstall,
): Promise<void> {
  const vm = await host.getVm(vmId);
  if (!vm) throw new GuestStateError(`VM '${vmId}' does not exist`);
  if (vm.power !== 'running') {
    throw new GuestStateError(`VM '${vm.name}' is ${vm.power}; software is installed on a running machine`);
  }
  await installIntoPackageDisk(await host.exportDisk(vm.id, 'package'), install);
}
