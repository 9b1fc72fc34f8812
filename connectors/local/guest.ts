import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installIntoBootDisk, type BootDiskInstall } from '../../compositor/boot-disk-install';
import { installIntoPackageDisk } from '../../compositor/package-disk';
import { SCRIPTS_REPORT_FILE } from '../../compositor/scripts-runner';
import type { ScriptsReport } from '../vm-host';
import type { LocalVmHost } from './local-vm-host';

/**
 * What happens inside a guest of the local connector, which has no hypervisor to run one: the
 * stand-ins `lamina vm` and the API offer for an admin installing software on a packaging machine,
 * and for the first-start runner of a master image reporting that the layers' scripts ran.
 */
export class GuestStateError extends Error {}

async function runningVm(host: LocalVmHost, vmId: string) {
  const vm = await host.getVm(vmId);
  if (!vm) throw new GuestStateError(`VM '${vmId}' does not exist`);
  if (vm.power !== 'running') {
    throw new GuestStateError(`VM '${vm.name}' is ${vm.power}; software is installed on a running machine`);
  }
  return vm;
}

/**
 * Installs onto the running machine's boot disk (C: and its machine hives), as an installer in the
 * guest would. A packaging machine made before capture by difference has an empty package disk
 * (D:) that its task finalizes instead: installs go there.
 */
export async function installInGuest(
  host: LocalVmHost,
  vmId: string,
  install: BootDiskInstall,
): Promise<void> {
  const vm = await runningVm(host, vmId);
  if (vm.disks.some((d) => d.name === 'package')) {
    if (!install.from) throw new GuestStateError(`VM '${vm.name}' has a package disk: give --from`);
    await installIntoPackageDisk(await host.exportDisk(vm.id, 'package'), { ...install, from: install.from });
    return;
  }
  await installIntoBootDisk(await host.exportDisk(vm.id, 'boot'), install);
}

/**
 * What the image's first-start runner does when the layers' scripts are done, on a machine without
 * vSphere's guestinfo: it writes its report to SCRIPTS_REPORT_FILE on C:, where the local connector
 * reads it (LocalVmHost.getVm).
 */
export async function reportScriptsInGuest(
  host: LocalVmHost,
  vmId: string,
  report: Omit<ScriptsReport, 'reportedAt'>,
): Promise<void> {
  const vm = await runningVm(host, vmId);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lamina-guest-report-'));
  try {
    const file = path.join(dir, ...SCRIPTS_REPORT_FILE.split('\\'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, JSON.stringify({ ...report, reportedAt: new Date().toISOString() }));
    await installIntoBootDisk(await host.exportDisk(vm.id, 'boot'), { from: dir });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
