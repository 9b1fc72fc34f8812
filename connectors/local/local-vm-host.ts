import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { openWindowsPartition } from '../../compositor/disk-image';
import { readOptionalFile } from '../../compositor/layer-disk';
import { SCRIPTS_REPORT_FILE } from '../../compositor/scripts-runner';
import { convertDisk } from '../../disk/convert';
import { createDiskWriter, openDisk } from '../../disk/open';
import {
  VmHostLookupError,
  type PowerState,
  type ScriptsReport,
  type Snapshot,
  type VmHost,
  type VmRecord,
  type VmSpec,
} from '../vm-host';

const exec = promisify(execFile);

/**
 * VMs of the embedded `local` connector: records in a storage pool folder, no hypervisor behind them.
 *
 *   <pool>/disks/<name>.vhdx                  disks stored with uploadDisk (packaging cache, uploads)
 *   <pool>/vms/<id>/vm.json                   the VM record: CPU, memory, power state, snapshots, tags
 *   <pool>/vms/<id>/<disk>.vhdx               the VM's own disks: differencing children of stored disks
 *   <pool>/vms/<id>/<disk>.parent.vhdx        their parents: hard links of the stored disks
 *   <pool>/vms/<id>/snapshots/<name>/<disk>   immutable whole copies taken by snapshot()
 *
 * Every file is written under a temporary name and renamed, so a crash never leaves a half record
 * that looks whole. A stored disk is never written in place either (uploadDisk and a Compositing
 * Engine's compose rename a finished file over it, deleteDisk unlinks it), so a VM's hard link keeps
 * the bytes its child was made from whatever happens to the stored disk later. What an admin does inside a VM (install software, shut down, the guest's script
 * report) has stand-ins in `lamina vm`, which edit the same records.
 */
export class LocalVmHost implements VmHost {
  /** Per VM: the boot disk's state when it was last looked at for a guest report, and what was found. */
  private readonly guestReports = new Map<string, { stamp: string; report?: ScriptsReport }>();

  constructor(readonly pool: string) {}

  /** Where disk `name` is stored (a Compositing Engine writes an image straight there). */
  diskFile(name: string): string {
    return path.join(this.pool, 'disks', `${safeName(name)}.vhdx`);
  }

  private vmDir(id: string): string {
    return path.join(this.pool, 'vms', safeName(id));
  }

  async uploadDisk(name: string, file: string): Promise<void> {
    await cloneFile(file, this.diskFile(name));
  }

  async deleteDisk(name: string): Promise<void> {
    await fs.rm(this.diskFile(name), { force: true });
  }

  async hasDisk(name: string): Promise<boolean> {
    return exists(this.diskFile(name));
  }

  async diskVirtualSize(name: string): Promise<number> {
    const disk = await openDisk(this.diskFile(name));
    try {
      return disk.virtualSize;
    } finally {
      await disk.close();
    }
  }

  async createVm(spec: VmSpec): Promise<VmRecord> {
    const existing = await this.getVm(spec.id);
    if (existing) return existing;
    const dir = this.vmDir(spec.id);
    // Disks first, record last: a VM folder without vm.json is an unfinished create that destroy() removes.
    await fs.mkdir(dir, { recursive: true });
    for (const disk of spec.disks) {
      const stored = this.diskFile(disk.from);
      if (!(await exists(stored))) throw new VmHostLookupError(`stored disk '${disk.from}' does not exist`);
      await makeVmDisk(stored, path.join(dir, `${safeName(disk.name)}.vhdx`));
    }
    const record: VmRecord = {
      ...spec,
      cpus: spec.cpus ?? 2,
      memoryMiB: spec.memoryMiB ?? 4096,
      power: 'off',
      snapshots: [],
    };
    await this.writeRecord(record);
    return record;
  }

  async getVm(id: string): Promise<VmRecord | undefined> {
    let record: VmRecord;
    try {
      record = JSON.parse(await fs.readFile(path.join(this.vmDir(id), 'vm.json'), 'utf8')) as VmRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (record.scriptsReport || record.power === 'off') return record;
    const report = await this.guestReport(record);
    return report ? { ...record, scriptsReport: report } : record;
  }

  /**
   * The first-start runner's report, from SCRIPTS_REPORT_FILE on the VM's boot disk: the local
   * connector's channel from guest to host (vSphere's is guestinfo). The disk is read again only
   * when it changed since the last look; nothing is written to the record, which only the VM's
   * owner changes.
   */
  private async guestReport(vm: VmRecord): Promise<ScriptsReport | undefined> {
    if (!vm.disks.some((d) => d.name === 'boot')) return undefined;
    const disk = path.join(this.vmDir(vm.id), 'boot.vhdx');
    const stat = await fs.stat(disk).catch(() => undefined);
    if (!stat) return undefined;
    const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const known = this.guestReports.get(vm.id);
    if (known?.stamp === stamp) return known.report;
    const report = await readGuestReport(disk);
    this.guestReports.set(vm.id, { stamp, report });
    return report;
  }

  /** A VM by id or by name, for the admin stand-ins that take what the console shows. */
  async findVm(idOrName: string): Promise<VmRecord | undefined> {
    return (await this.listVms()).find((vm) => vm.id === idOrName || vm.name === idOrName);
  }

  async listVms(): Promise<VmRecord[]> {
    const ids = await fs.readdir(path.join(this.pool, 'vms')).catch(() => [] as string[]);
    const records = await Promise.all(ids.map((id) => this.getVm(id)));
    return records.filter((vm): vm is VmRecord => vm !== undefined);
  }

  async powerOn(id: string): Promise<void> {
    const vm = await this.requireVm(id);
    if (vm.power !== 'running')
      await this.writeRecord({ ...vm, power: 'running', poweredOnAt: new Date().toISOString() });
  }

  async shutdown(id: string): Promise<void> {
    const vm = await this.requireVm(id);
    if (vm.power === 'off') return;
    // A guest passes through shutting-down; here it ends at once, there is no guest OS to wait for.
    await this.setPower(id, 'shutting-down');
    await this.setPower(id, 'off');
  }

  async snapshot(id: string, name: string): Promise<Snapshot> {
    const vm = await this.requireVm(id);
    const known = vm.snapshots.find((s) => s.name === name);
    if (known) return known;
    const target = path.join(this.vmDir(id), 'snapshots', safeName(name));
    await fs.mkdir(target, { recursive: true });
    for (const disk of vm.disks) {
      const file = `${safeName(disk.name)}.vhdx`;
      await wholeCopy(path.join(this.vmDir(id), file), path.join(target, file));
    }
    const snapshot = { name, createdAt: new Date().toISOString() };
    await this.writeRecord({ ...vm, snapshots: [...vm.snapshots, snapshot] });
    return snapshot;
  }

  async destroy(id: string): Promise<void> {
    this.guestReports.delete(id);
    await fs.rm(this.vmDir(id), { recursive: true, force: true });
  }

  /** The VM's disk file itself: the appliance reads the storage pool in place. */
  async exportDisk(id: string, disk: string): Promise<string> {
    return this.diskLocation(id, disk);
  }

  async diskLocation(id: string, disk: string): Promise<string> {
    const vm = await this.requireVm(id);
    if (!vm.disks.some((d) => d.name === disk))
      throw new VmHostLookupError(`VM '${vm.name}' has no disk '${disk}'`);
    return path.join(this.vmDir(id), `${safeName(disk)}.vhdx`);
  }

  private async requireVm(id: string): Promise<VmRecord> {
    const vm = await this.getVm(id);
    if (!vm) throw new VmHostLookupError(`VM '${id}' does not exist in storage pool ${this.pool}`);
    return vm;
  }

  private async setPower(id: string, power: PowerState): Promise<void> {
    const vm = await this.requireVm(id);
    if (vm.power !== power) await this.writeRecord({ ...vm, power });
  }

  private async writeRecord(record: VmRecord): Promise<void> {
    await writeFileAtomically(path.join(this.vmDir(record.id), 'vm.json'), JSON.stringify(record, null, 2));
  }
}

/** A report the runner wrote (PowerShell's UTF-8 starts with a BOM); one that does not parse is not one yet. */
async function readGuestReport(disk: string): Promise<ScriptsReport | undefined> {
  const windows = await openWindowsPartition(disk).catch(() => undefined);
  if (!windows) return undefined; // not a Windows disk (yet): no guest to report
  try {
    const bytes = await readOptionalFile(windows, SCRIPTS_REPORT_FILE);
    if (!bytes) return undefined;
    const parsed = scriptsReport.safeParse(JSON.parse(bytes.toString('utf8').replace(/^\uFEFF/, '')));
    return parsed.success ? parsed.data : undefined;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  } finally {
    await windows.close();
  }
}

const scriptsReport = z.object({ ok: z.boolean(), reportedAt: z.string(), detail: z.string() });

/** Ids and names become file names: nothing that could climb out of the pool. */
function safeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name))
    throw new Error(`'${name}' is not a valid disk or VM name`);
  return name;
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function temporaryName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
}

async function writeFileAtomically(file: string, content: string): Promise<void> {
  const temp = temporaryName(file);
  await fs.writeFile(temp, content);
  await fs.rename(temp, file);
}

/**
 * A VM's disk made from the stored disk `stored`: a differencing VHDX (disk/, 2 MiB blocks, as
 * Hyper-V makes one) whose parent is `stored` hard-linked beside it as `<disk>.parent.vhdx`, so the
 * VM's writes land in the child and the parent stays the stored disk's bytes. Where that cannot be
 * (a stored disk in another format, a pool whose file system has no hard links), a copy (cloneFile).
 */
async function makeVmDisk(stored: string, target: string): Promise<void> {
  const parent = target.replace(/\.vhdx$/, '.parent.vhdx');
  if (!(await linkFile(stored, parent))) return cloneFile(stored, target);
  const disk = await openDisk(parent);
  const { format, virtualSize } = disk;
  await disk.close();
  if (format !== 'vhdx') {
    await fs.rm(parent, { force: true });
    return cloneFile(stored, target);
  }
  const child = await createDiskWriter('vhdx', target, { virtualSize, parent });
  await child.finish();
}

/** Hard-links `source` as `target` (replacing it); false where the file system cannot link the two. */
async function linkFile(source: string, target: string): Promise<boolean> {
  const temp = temporaryName(target);
  try {
    await fs.link(source, temp);
  } catch (err) {
    if (['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK'].includes((err as NodeJS.ErrnoException).code!))
      return false;
    throw err;
  }
  await fs.rename(temp, target);
  return true;
}

/**
 * A snapshot's disk: the VM disk's content (its chain read through) as one VHDX that stands alone,
 * so outside tools open it and no later change of the VM or of a stored disk reaches it.
 */
async function wholeCopy(source: string, target: string): Promise<void> {
  const disk = await openDisk(source);
  try {
    await convertDisk(disk, 'vhdx', target);
  } finally {
    await disk.close();
  }
}

/** A copy that shares blocks where the file system can (reflink) and keeps holes: how a local clone is cheap. */
async function cloneFile(source: string, target: string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const temp = temporaryName(target);
  try {
    await exec('cp', ['--reflink=auto', '--sparse=always', source, temp]);
    await fs.rename(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
  }
}
