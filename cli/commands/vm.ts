import path from 'node:path';
import { loadConfig } from '../../config/env';
import { GuestStateError, installInGuest, reportScriptsInGuest } from '../../connectors/local/guest';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { UsageError, type CliCommand } from '../command';
import { parseOptions } from '../options';

const usage = `Usage:
  lamina vm list [--pool DIR]
  lamina vm install VM [--from DIR|ZIP] [--reg FILE.reg] [--deletions FILE] [--pool DIR]
      Does to the VM's boot disk what an installer running inside it does: writes the files at
      their Windows paths on C:, applies the .reg to the machine hives (HKLM\\SOFTWARE, HKLM\\SYSTEM,
      HKU\\.DEFAULT) and deletes the listed paths (one Windows path per line). The VM must be
      running. On a packaging machine the layer is then captured from the difference.
  lamina vm shutdown VM [--pool DIR]
      Shuts the VM down, as the admin does when the installation is done; the waiting task goes on.
  lamina vm report VM [--failed] [--detail TEXT] [--pool DIR]
      Reports, as the first-start runner of an MCS master image does, that the layers' scripts
      have run: writes its report file onto the VM's boot disk, where the connector reads it.

Stand-ins for what happens inside VMs of the local connector, which has no hypervisor. VM is a VM's
name or id; DIR defaults to the local connector's storage pool, LAMINA_DATA_DIR/pool. Through the API,
POST /api/connectors/:id/vms/:vmId/install|shutdown|scripts-report runs the same as a task.`;

/** A VM in the wrong state is the caller's mistake: a usage error, not a crash. */
function guestStateAsUsage(err: unknown): never {
  throw err instanceof GuestStateError ? new UsageError(err.message) : err;
}

export const vmCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    const options = parseOptions(rest, {
      pool: 'value',
      from: 'value',
      reg: 'value',
      deletions: 'value',
      failed: 'flag',
      detail: 'value',
    });
    const host = new LocalVmHost(options.values.get('pool') ?? path.join(loadConfig().dataDir, 'pool'));
    if (sub === 'list') {
      for (const vm of await host.listVms()) console.log(`${vm.id}  ${vm.power.padEnd(13)}  ${vm.name}`);
      return 0;
    }
    if (options.positional.length !== 1)
      throw new UsageError(`${sub ?? 'vm'} takes one VM name or id\n\n${usage}`);
    const vm = await host.findVm(options.positional[0]);
    if (!vm) throw new UsageError(`no VM '${options.positional[0]}' in storage pool ${host.pool}`);
    switch (sub) {
      case 'install':
        if (!['from', 'reg', 'deletions'].some((name) => options.values.has(name)))
          throw new UsageError('install needs --from, --reg or --deletions');
        await installInGuest(host, vm.id, {
          from: options.values.get('from'),
          reg: options.values.get('reg'),
          deletions: options.values.get('deletions'),
        }).catch(guestStateAsUsage);
        console.log(`installed onto the boot disk (C:) of ${vm.name}`);
        return 0;
      case 'shutdown':
        await host.shutdown(vm.id);
        console.log(`${vm.name} is off`);
        return 0;
      case 'report':
        await reportScriptsInGuest(host, vm.id, {
          ok: !options.flags.has('failed'),
          detail: options.values.get('detail') ?? 'layer scripts completed',
        }).catch(guestStateAsUsage);
        console.log(`scripts reported for ${vm.name}`);
        return 0;
      default:
        throw new UsageError(`unknown vm command ${sub ?? '(none)'}\n\n${usage}`);
    }
  },
};
