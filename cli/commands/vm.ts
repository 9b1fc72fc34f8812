import path from 'node:path';
import { loadConfig } from '../../config/env';
import { GuestStateError, installInGuest } from '../../connectors/local/guest';
import { LocalVmHost } from '../../connectors/local/local-vm-host';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required } from '../options';

const usage = `Usage:
  lamina vm list [--pool DIR]
  lamina vm install VM --from DIR|ZIP [--reg FILE.reg] [--deletions FILE] [--pool DIR]
      Writes files, registry changes and deletions into the VM's package disk, as an installer
      running inside a packaging machine would. The VM must be running.
  lamina vm shutdown VM [--pool DIR]
      Shuts the VM down, as the admin does when the installation is done; the waiting task goes on.
  lamina vm report VM [--failed] [--detail TEXT] [--pool DIR]
      Reports, as the guest agent of an MCS master image does, that the layers' scripts have run.

Stand-ins for what happens inside VMs of the local connector, which has no hypervisor. VM is a VM's
name or id; DIR defaults to the local connector's storage pool, LAMINA_DATA_DIR/pool. Through the API,
POST /api/connectors/:id/vms/:vmId/install|shutdown|scripts-report runs the same as a task.`;

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
        await installInGuest(host, vm.id, {
          from: required(options, 'from'),
          reg: options.values.get('reg'),
          deletions: options.values.get('deletions'),
        }).catch((err: unknown) => {
          throw err instanceof GuestStateError ? new UsageError(err.message) : err;
        });
        console.log(`installed into the package disk of ${vm.name}`);
        return 0;
      case 'shutdown':
        await host.shutdown(vm.id);
        console.log(`${vm.name} is off`);
        return 0;
      case 'report':
        await host.reportScripts(vm.id, {
          ok: !options.flags.has('failed'),
          reportedAt: new Date().toISOString(),
          detail: options.values.get('detail') ?? 'layer scripts completed',
        });
        console.log(`scripts reported for ${vm.name}`);
        return 0;
      default:
        throw new UsageError(`unknown vm command ${sub ?? '(none)'}\n\n${usage}`);
    }
  },
};
