import fs from 'node:fs/promises';
import path from 'node:path';
import { openDisk } from '../../disk/open';
import { run } from '../../lib/processes';
import {
  VmHostLookupError,
  type ScriptsReport,
  type Snapshot,
  type TransferControl,
  type VmHost,
  type VmRecord,
  type VmSpec,
} from '../vm-host';
import type { DatastoreLocation } from './datastore-files';
import { listObjects, readProperties } from './property-collector';
import { copyVirtualDisk } from './virtual-disks';
import * as vms from './virtual-machines';
import type { MoRef } from './vim-fault';
import { isDescriptor, parseExtents } from './vmdk-descriptor';
import type { VsphereOperations, VsphereSession } from './vsphere-session';
import type { XmlElement } from './xml';

/**
 * The workflows' VmHost on vSphere (connectors/vm-host.ts), built on the VsphereConnector's session.
 *
 *   [datastore] lamina/disks/<name>.vmdk        disks stored with uploadDisk (uploads, packaging cache)
 *   [datastore] lamina/vms/<id>/<from>.vmdk     a VM's own copies of stored disks
 *
 * A VM's id is its vCenter instance UUID, which createVm sets to the id the workflow chose, so a retry
 * or any later activity finds the VM (FindByUuid) whatever its name. What the workflows read back is
 * kept in the VM's advanced configuration (config.extraConfig), which survives vCenter restarts and
 * shows in the vSphere Client: the disk names, the tags (WORKFLOW_TAG: whom the power watcher
 * signals), when Lamina last powered it on, and the guest's scripts report under `guestinfo.` (the
 * namespace a guest writes with `vmtoolsd --cmd "info-set guestinfo.lamina.scripts {...}"`).
 */
const STORED_DISKS = 'lamina/disks';
const VM_DISKS = 'lamina/vms';

const CONFIG = {
  disks: 'lamina.disks',
  tagPrefix: 'lamina.tag.',
  poweredOnAt: 'lamina.poweredOnAt',
  scripts: 'guestinfo.lamina.scripts',
} as const;

const VM_PROPERTIES = [
  'name',
  'config.instanceUuid',
  'config.hardware.numCPU',
  'config.hardware.memoryMB',
  'config.extraConfig',
  'runtime.powerState',
  'snapshot',
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class VsphereVmHost implements VmHost {
  /** #private: the connector refers back to its host, and a cycle would break JSON.stringify of either. */
  readonly #connector: VsphereOperations;

  constructor(connector: VsphereOperations) {
    this.#connector = connector;
  }

  /**
   * Uploads as one extent: the layout ESXi boots (descriptor + `-flat.vmdk`) and the one a server-side
   * copy handles; a dropped connection re-sends the file (see README, disk transfer design).
   */
  async uploadDisk(name: string, file: string, control: TransferControl = {}): Promise<void> {
    const disk = await openDisk(file);
    let size: number;
    try {
      size = disk.virtualSize;
    } finally {
      await disk.close();
    }
    await this.#connector.uploadDisk(file, storedDisk(name), {
      extentBytes: Math.max(512, Math.ceil(size / 512) * 512),
      scratchDir: path.dirname(file),
      signal: control.signal,
      onProgress: control.onProgress,
    });
  }

  async deleteDisk(name: string): Promise<void> {
    await this.#connector.deleteDisk(storedDisk(name));
  }

  async hasDisk(name: string): Promise<boolean> {
    const session = await this.#connector.session();
    return (await session.files.size(this.location(session, storedDisk(name)))) !== undefined;
  }

  async diskVirtualSize(name: string): Promise<number> {
    const session = await this.#connector.session();
    const text = await session.files.readText(this.location(session, storedDisk(name)));
    if (!isDescriptor(text)) throw new Error(`stored disk '${name}' has no VMDK descriptor`);
    return parseExtents(text).reduce((sum, e) => sum + e.sectors * 512, 0);
  }

  async createVm(spec: VmSpec): Promise<VmRecord> {
    if (!UUID.test(spec.id))
      throw new Error(`VM id '${spec.id}' must be a UUID: it becomes the instance UUID`);
    const froms = spec.disks.map((d) => d.from);
    if (new Set(froms).size !== froms.length)
      throw new Error('each VM disk must come from a different stored disk');
    const existing = await this.getVm(spec.id);
    if (existing) return existing;
    const session = await this.#connector.session();
    const copies: string[] = [];
    for (const disk of spec.disks) {
      const source = this.location(session, storedDisk(disk.from));
      if ((await session.files.size(source)) === undefined)
        throw new VmHostLookupError(`stored disk '${disk.from}' does not exist`);
      const copy = vmDisk(spec.id, disk.from);
      await session.files.makeDirectory(this.location(session, path.posix.dirname(copy)));
      await copyVirtualDisk(
        session.client,
        session.datacenter.ref,
        datastorePathOf(source),
        datastorePathOf(this.location(session, copy)),
      );
      copies.push(copy);
    }
    const { created } = await this.#connector.createVm({
      name: spec.name,
      disks: copies,
      cpus: spec.cpus,
      memoryMiB: spec.memoryMiB,
      // The template VM's firmware may not boot this disk; the disk's own wins.
      firmware: spec.firmware && (spec.firmware === 'uefi' ? 'efi' : 'bios'),
      instanceUuid: spec.id,
      extraConfig: {
        [CONFIG.disks]: JSON.stringify(spec.disks),
        ...Object.fromEntries(Object.entries(spec.tags).map(([k, v]) => [CONFIG.tagPrefix + k, v])),
      },
    });
    const vm = await this.getVm(spec.id);
    if (!created || !vm) {
      throw new Error(
        `a VM named '${spec.name}' already exists in folder '${session.folder.path || 'vm'}' and is not ` +
          `VM ${spec.id}; rename or remove it`,
      );
    }
    return vm;
  }

  async getVm(id: string): Promise<VmRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const session = await this.#connector.session();
    const ref = await vms.findVmByInstanceUuid(session.client, session.datacenter.ref, id);
    if (!ref) return undefined;
    return recordOf(ref, await readProperties(session.client, ref, VM_PROPERTIES));
  }

  /** The VMs Lamina made in the configured folder (they carry its disk list); others are not listed. */
  async listVms(): Promise<VmRecord[]> {
    const session = await this.#connector.session();
    const found = await listObjects(session.client, 'VirtualMachine', VM_PROPERTIES, session.folder.ref);
    return found
      .filter((o) => vms.extraConfigOf(o.props.get('config.extraConfig')).has(CONFIG.disks))
      .map((o) => recordOf(o.ref, o.props));
  }

  async powerOn(id: string): Promise<void> {
    const { client, ref } = await this.requireVm(id);
    await vms.powerOn(client, ref);
    // vCenter's runtime.bootTime is cleared at power-off, so the power watcher could not tell "off
    // after Lamina started it" from "never started": the time is kept where it survives. It is written
    // once the VM runs: the watcher signals a VM that is off with a time it has not signalled yet, so
    // written before the power-on, a look between the two calls signalled a power-off that never
    // happened (and the packaging task finalized its package disk before the admin installed anything).
    // Written again when the VM already ran (a retried activity), it stays a time the VM was on.
    await vms.setExtraConfig(client, ref, { [CONFIG.poweredOnAt]: new Date().toISOString() });
  }

  /** Guest shutdown (VMware Tools), then power-off after 5 minutes, or at once without Tools. */
  async shutdown(id: string): Promise<void> {
    const { client, ref } = await this.requireVm(id);
    await vms.shutdown(client, ref);
  }

  /** A snapshot without memory named after the image; its moref and the VM's are what MCS needs. */
  async snapshot(id: string, name: string): Promise<Snapshot> {
    const { client, ref } = await this.requireVm(id);
    const snapshotRef = await vms.createSnapshot(client, ref, name);
    const record = recordOf(ref, await readProperties(client, ref, VM_PROPERTIES));
    const snapshot = record.snapshots.find((s) => s.refs?.snapshot === snapshotRef.value);
    if (!snapshot) throw new Error(`snapshot '${name}' of VM ${id} is not in its snapshot tree`);
    return snapshot;
  }

  /** Destroys the VM (vSphere deletes its attached disks) and its disk folder (what vcsim leaves). */
  async destroy(id: string): Promise<void> {
    const session = await this.#connector.session();
    const ref = UUID.test(id)
      ? await vms.findVmByInstanceUuid(session.client, session.datacenter.ref, id)
      : undefined;
    if (ref) await vms.destroyVm(session.client, ref);
    await session.files.remove(this.location(session, `${VM_DISKS}/${id}/`));
  }

  /**
   * Downloads the disk into `into`. A native single-extent disk is read through its `-flat.vmdk`,
   * which is the raw disk; anything else is converted to raw by qemu-img, which reads every VMDK kind.
   */
  async exportDisk(id: string, disk: string, into?: string, control: TransferControl = {}): Promise<string> {
    if (!into) throw new Error('vSphere disks are downloaded: exportDisk needs a folder to put the disk in');
    const source = await this.diskLocation(id, disk);
    const folder = path.join(into, `export-${disk}`);
    const downloaded = await this.#connector.downloadDisk(
      source,
      path.join(folder, path.posix.basename(source)),
      {
        signal: control.signal,
        onProgress: control.onProgress,
      },
    );
    const text = await readDescriptor(downloaded.file);
    if (text !== undefined && /^parentFileNameHint/m.test(text)) {
      throw new Error(
        `disk '${disk}' of VM ${id} is a snapshot's delta disk (${source}); delete or consolidate the ` +
          `VM's snapshots first`,
      );
    }
    const extents = text === undefined ? [] : parseExtents(text);
    if (extents.length === 1 && extents[0].file && /^(FLAT|VMFS)$/.test(extents[0].type)) {
      return path.join(folder, extents[0].file);
    }
    const raw = path.join(into, `${disk}.raw`);
    // As long as the disk is big: the activity's heartbeat, not a timeout, tells that it is alive.
    await run('qemu-img', ['convert', '-O', 'raw', downloaded.file, raw], {
      timeoutMs: 0,
      signal: control.signal,
    });
    await fs.rm(folder, { recursive: true, force: true });
    return raw;
  }

  /**
   * `[datastore] path` of one of the VM's disks. Lamina's VMs name their disks; any other VM (a gold
   * VM to import) calls its first disk `boot` and the others `disk2`, `disk3`, … in device order.
   */
  async diskLocation(id: string, disk: string): Promise<string> {
    const { client, ref, record } = await this.requireVm(id);
    const paths = await vms.diskPaths(client, ref);
    const names = record.disks.length
      ? record.disks.map((d) => d.name)
      : paths.map((_, i) => (i === 0 ? 'boot' : `disk${i + 1}`));
    const index = names.indexOf(disk);
    if (index < 0 || index >= paths.length)
      throw new VmHostLookupError(`VM '${record.name}' has no disk '${disk}' (it has: ${names.join(', ')})`);
    return paths[index];
  }

  private async requireVm(
    id: string,
  ): Promise<{ client: VsphereSession['client']; ref: MoRef; record: VmRecord }> {
    const session = await this.#connector.session();
    const ref = UUID.test(id)
      ? await vms.findVmByInstanceUuid(session.client, session.datacenter.ref, id)
      : undefined;
    if (!ref)
      throw new VmHostLookupError(
        `no VM with instance UUID '${id}' in datacenter ${session.datacenter.name}`,
      );
    return {
      client: session.client,
      ref,
      record: recordOf(ref, await readProperties(session.client, ref, VM_PROPERTIES)),
    };
  }

  private location(session: VsphereSession, datastorePath: string): DatastoreLocation {
    return { datastore: session.placement.datastore, path: datastorePath };
  }
}

/** `lamina/disks/<name>.vmdk`: where a stored disk is (a Compositing Engine writes one there too). */
export function storedDisk(name: string): string {
  return `${STORED_DISKS}/${safeName(name)}.vmdk`;
}

function vmDisk(id: string, from: string): string {
  // The stored disk's file name is kept (see virtual-disks.ts); the folder makes it the VM's own.
  return `${VM_DISKS}/${id}/${safeName(from)}.vmdk`;
}

/** Names become datastore file names: nothing that could climb out of Lamina's folders. */
function safeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name)) throw new Error(`'${name}' is not a valid disk name`);
  return name;
}

function datastorePathOf(location: DatastoreLocation): string {
  return `[${location.datastore}] ${location.path}`;
}

async function readDescriptor(file: string): Promise<string | undefined> {
  const handle = await fs.open(file);
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead).toString('utf8');
    return isDescriptor(text) ? text : undefined;
  } finally {
    await handle.close();
  }
}

function recordOf(ref: MoRef, props: Map<string, XmlElement>): VmRecord {
  const config = vms.extraConfigOf(props.get('config.extraConfig'));
  const tags = Object.fromEntries(
    [...config]
      .filter(([key]) => key.startsWith(CONFIG.tagPrefix))
      .map(([key, value]) => [key.slice(CONFIG.tagPrefix.length), value]),
  );
  return {
    id: props.get('config.instanceUuid')?.text ?? '',
    name: props.get('name')?.text ?? '',
    cpus: Number(props.get('config.hardware.numCPU')?.text ?? 0),
    memoryMiB: Number(props.get('config.hardware.memoryMB')?.text ?? 0),
    disks: JSON.parse(config.get(CONFIG.disks) || '[]') as VmSpec['disks'],
    tags,
    // A suspended VM is not off: a packaging machine that is suspended has not finished.
    power: props.get('runtime.powerState')?.text === 'poweredOff' ? 'off' : 'running',
    poweredOnAt: config.get(CONFIG.poweredOnAt) || undefined,
    snapshots: vms.snapshotsIn(props.get('snapshot')).map((s) => ({
      name: s.name,
      createdAt: s.createTime,
      refs: { vm: ref.value, snapshot: s.ref.value },
    })),
    scriptsReport: scriptsReportOf(config.get(CONFIG.scripts)),
  };
}

/** The guest's report; anything unreadable counts as not reported yet (the guest may be mid-write). */
function scriptsReportOf(text: string | undefined): ScriptsReport | undefined {
  if (!text) return undefined;
  try {
    const report = JSON.parse(text) as Partial<ScriptsReport>;
    if (typeof report.ok !== 'boolean') return undefined;
    return {
      ok: report.ok,
      reportedAt: report.reportedAt ?? new Date().toISOString(),
      detail: report.detail ?? '',
    };
  } catch {
    return undefined;
  }
}
