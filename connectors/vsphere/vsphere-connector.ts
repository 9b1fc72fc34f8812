import type { Connector, ConnectorCheck } from '../connector';
import { DatastoreFiles, parseDatastorePath, type DatastoreLocation } from './datastore-files';
import { downloadDisk, type DownloadedDisk } from './disk-download';
import { deleteDisk, uploadDisk, type DiskTransferOptions, type UploadedDisk } from './disk-upload';
import {
  findDatacenter,
  findDatastore,
  findHostOrCluster,
  findNetwork,
  findTemplateVm,
  findVmFolder,
  SettingProblem,
} from './inventory';
import type { VsphereConnectorSecrets, VsphereConnectorSettings } from './settings';
import type { ProgressCallback } from './tasks';
import { VsphereCeHost, type EngineHostOperations, type EngineSession } from './ce-host/vsphere-ce-host';
import { CertificateRejected } from './tls-trust';
import { VimClient, VimConnectionError } from './vim-client';
import { VimFault, type MoRef } from './vim-fault';
import * as vms from './virtual-machines';
import { isDescriptor, parseExtents } from './vmdk-descriptor';
import { xml } from './xml';
import { VsphereVmHost } from './vsphere-vm-host';
import type { CreateVmRequest, VsphereOperations, VsphereSession } from './vsphere-session';

export interface VsphereConnectorOptions {
  /** The configuration's packaging cache size (0 = off); Test checks that it fits on the datastore. */
  packagingCacheGb?: number;
  keepAliveMs?: number;
  requestTimeoutMs?: number;
}

/**
 * The vSphere connector (ARCHITECTURE.md §7): Test checks every setting against vCenter, and the
 * operations the workflows call work in the datacenter, host or cluster, datastore, network and VM
 * folder the settings name. One instance holds one vCenter session; call close() when done (an
 * activity creates one per run, so settings changed in between are picked up).
 * The method contract is documented in connectors/vsphere/README.md.
 */
export class VsphereConnector implements Connector, VsphereOperations, EngineHostOperations {
  readonly type = 'vsphere';
  /** What the workflows use: VMs by the ids they chose, stored disks by name (vsphere-vm-host.ts). */
  readonly vms = new VsphereVmHost(this);
  /** Compositing Engines cloned from the settings' ceTemplateVm (ce-host/vsphere-ce-host.ts). */
  readonly ce: VsphereCeHost;
  private current?: Promise<VsphereSession>;
  /** In a #private field, apart from the settings, so that inspecting or logging never shows it. */
  readonly #password: string;

  constructor(
    private readonly settings: VsphereConnectorSettings,
    secrets: VsphereConnectorSecrets,
    private readonly options: VsphereConnectorOptions = {},
  ) {
    this.#password = secrets.password;
    this.ce = new VsphereCeHost(this, settings);
  }

  async test(): Promise<ConnectorCheck[]> {
    const checks: ConnectorCheck[] = [];
    let client: VimClient;
    try {
      client = await this.connect();
    } catch (err) {
      return [connectionCheck(err as Error, this.settings)];
    }
    try {
      checks.push({
        field: 'vcenter',
        ok: true,
        message: `connected to ${client.serviceContent.fullName} as '${this.settings.user}'`,
      });
      const check = async <T>(
        field: keyof VsphereConnectorSettings,
        find: () => Promise<T>,
        describe: (found: T) => string,
      ) => {
        try {
          const found = await find();
          checks.push({ field, ok: true, message: describe(found) });
          return found;
        } catch (err) {
          if (!(err instanceof SettingProblem)) throw err;
          checks.push({ field: err.field, ok: false, message: err.message });
          return undefined;
        }
      };
      const s = this.settings;
      const dc = await check(
        'datacenter',
        () => findDatacenter(client, s.datacenter),
        () => `datacenter '${s.datacenter}' found`,
      );
      if (!dc) return checks;
      const compute = await check(
        'host',
        () => findHostOrCluster(client, dc, s.host),
        (c) => `${c.host ? 'host' : 'cluster or host'} '${c.name}' found`,
      );
      if (compute) {
        const datastore = await check(
          'datastore',
          () => findDatastore(client, dc, compute, s.datastore),
          (d) => `datastore '${d.name}' has ${gib(d.freeBytes)} GB free of ${gib(d.capacityBytes)} GB`,
        );
        const cacheGb = this.options.packagingCacheGb ?? 0;
        if (datastore && cacheGb > 0) {
          const fits = datastore.freeBytes >= cacheGb * 1024 ** 3;
          checks.push({
            field: 'packagingCacheGb',
            ok: fits,
            message: fits
              ? `packaging cache of ${cacheGb} GB fits on '${datastore.name}'`
              : `packaging cache of ${cacheGb} GB does not fit: '${datastore.name}' has ` +
                `${gib(datastore.freeBytes)} GB free; lower the size or free space (0 turns the cache off)`,
          });
        }
        await check(
          'network',
          () => findNetwork(client, dc, compute, s.network),
          (n) => `network '${n.name}' found`,
        );
      }
      await check(
        'vmFolder',
        () => findVmFolder(client, dc, s.vmFolder),
        (f) => `VM folder '${f.path || 'vm'}' found`,
      );
      if (s.templateVm) {
        const templateVm = s.templateVm;
        await check(
          'templateVm',
          async () => vms.hardwareOf(client, await findTemplateVm(client, dc, templateVm)),
          (h) =>
            `template VM '${templateVm}' found: ${h.cpus} CPUs, ${h.memoryMiB} MiB, ${h.firmware}, ` +
            `${h.scsiController}, ${h.nic}`,
        );
      }
      if (s.ceTemplateVm) {
        const ceTemplateVm = s.ceTemplateVm;
        await check(
          'ceTemplateVm',
          () => findTemplateVm(client, dc, ceTemplateVm, 'ceTemplateVm'),
          () => `Compositing Engine template VM '${ceTemplateVm}' found`,
        );
      }
      return checks;
    } finally {
      await client.close();
    }
  }

  /** Uploads a local disk (any qemu-img format) as a VMDK; see disk-upload.ts for the resume design. */
  async uploadDisk(
    localDisk: string,
    target: string,
    options: DiskTransferOptions = {},
  ): Promise<UploadedDisk> {
    const session = await this.session();
    return uploadDisk(session.files, localDisk, this.location(target), options);
  }

  /** Downloads a datastore VMDK (with its extents) into `localFile`'s folder. */
  async downloadDisk(
    source: string,
    localFile: string,
    options: DiskTransferOptions = {},
  ): Promise<DownloadedDisk> {
    const session = await this.session();
    return downloadDisk(session.files, this.location(source), localFile, options);
  }

  /** Downloads disk `diskIndex` (0 = first) of a VM, e.g. the gold VM an OS layer is imported from. */
  async exportDisk(
    vmName: string,
    localFile: string,
    options: DiskTransferOptions & { diskIndex?: number } = {},
  ): Promise<DownloadedDisk> {
    const { client } = await this.session();
    const disks = await vms.diskPaths(client, await this.vm(vmName));
    const index = options.diskIndex ?? 0;
    if (index >= disks.length)
      throw new Error(`VM '${vmName}' has ${disks.length} disk(s); no disk ${index}`);
    return this.downloadDisk(disks[index], localFile, options);
  }

  /** Deletes a VMDK and its extents; missing is fine. */
  async deleteDisk(diskPath: string): Promise<void> {
    const session = await this.session();
    await deleteDisk(session.files, this.location(diskPath));
  }

  /** Deletes one datastore file, or a folder when the path ends in '/'; missing is fine. */
  async deleteDatastoreFile(filePath: string): Promise<void> {
    const session = await this.session();
    await session.files.remove(this.location(filePath));
  }

  /** Creates the VM in the configured folder/host or cluster/datastore/network, or finds it by name. */
  async createVm(
    request: CreateVmRequest,
    onProgress?: ProgressCallback,
  ): Promise<{ vm: MoRef; created: boolean }> {
    const session = await this.session();
    const base = session.templateHardware ?? vms.DEFAULT_HARDWARE;
    const hardware: vms.VmHardware = {
      ...base,
      cpus: request.cpus ?? base.cpus,
      memoryMiB: request.memoryMiB ?? base.memoryMiB,
      firmware: request.firmware ?? base.firmware,
      guestId: request.guestId ?? base.guestId,
    };
    const disks = [];
    for (const disk of request.disks) {
      const location = this.location(disk);
      disks.push({
        path: `[${location.datastore}] ${location.path}`,
        capacityBytes: await this.capacityOf(location),
      });
    }
    return vms.createVm(
      session.client,
      {
        name: request.name,
        hardware,
        placement: session.placement,
        disks,
        instanceUuid: request.instanceUuid,
        extraConfig: request.extraConfig,
      },
      onProgress,
    );
  }

  async powerOn(vmName: string, onProgress?: ProgressCallback): Promise<void> {
    const { client } = await this.session();
    await vms.powerOn(client, await this.vm(vmName), onProgress);
  }

  async powerState(vmName: string): Promise<vms.PowerState> {
    const { client } = await this.session();
    return vms.powerState(client, await this.vm(vmName));
  }

  /** Guest shutdown, then power off after `graceMs` (default 5 minutes). */
  async shutdown(
    vmName: string,
    options: { graceMs?: number; pollMs?: number; signal?: AbortSignal } = {},
  ): Promise<'alreadyOff' | 'guest' | 'forced'> {
    const { client } = await this.session();
    return vms.shutdown(client, await this.vm(vmName), options);
  }

  /** True once powered off; false when `timeoutMs` passed first. */
  async waitForPowerOff(
    vmName: string,
    options: {
      pollMs?: number;
      timeoutMs?: number;
      signal?: AbortSignal;
      onPoll?: (state: vms.PowerState) => void;
    } = {},
  ): Promise<boolean> {
    const { client } = await this.session();
    return vms.waitForPowerOff(client, await this.vm(vmName), options);
  }

  async createSnapshot(vmName: string, snapshotName: string, onProgress?: ProgressCallback): Promise<MoRef> {
    const { client } = await this.session();
    return vms.createSnapshot(client, await this.vm(vmName), snapshotName, '', onProgress);
  }

  /** Powers off and destroys the VM; `keepDisks` detaches its disks first so they survive. Missing is fine. */
  async destroyVm(vmName: string, options: { keepDisks?: boolean } = {}): Promise<void> {
    const session = await this.session();
    const vm = await vms.findVmInFolder(session.client, session.folder.ref, vmName);
    if (vm) await vms.destroyVm(session.client, vm, options);
  }

  /**
   * A session of its own for one Compositing Engine, let go of unused: the engine logs it out, and the
   * engine's removal ends it (endEngineSession) if the engine did not.
   */
  async loginForEngine(): Promise<EngineSession> {
    const client = await this.connect();
    client.release();
    return { cookie: client.sessionCookie, key: client.sessionKey };
  }

  /** Ends an engine's session (TerminateSession by its key); one already logged out or expired is fine. */
  async endEngineSession(key: string): Promise<void> {
    const { client } = await this.session();
    try {
      await client.invoke('TerminateSession', client.serviceContent.sessionManager, xml('sessionId', key));
    } catch (err) {
      if (!(err instanceof VimFault && err.fault === 'NotFound')) throw err;
    }
  }

  async close(): Promise<void> {
    const session = this.current;
    this.current = undefined;
    if (session) await (await session.catch(() => undefined))?.client.close();
  }

  private connect(): Promise<VimClient> {
    return VimClient.connect({
      server: this.settings.vcenter,
      username: this.settings.user,
      password: this.#password,
      trust: {
        allowUntrustedCertificate: this.settings.allowUntrustedCertificate,
        thumbprint: this.settings.certificateThumbprint,
      },
      keepAliveMs: this.options.keepAliveMs,
      requestTimeoutMs: this.options.requestTimeoutMs,
    });
  }

  /**
   * The logged-in session with every setting resolved (once); a wrong setting fails with the Test
   * action's message. For the modules that build on the connector (vsphere-vm-host.ts).
   */
  session(): Promise<VsphereSession> {
    this.current ??= (async () => {
      const client = await this.connect();
      try {
        const s = this.settings;
        const datacenter = await findDatacenter(client, s.datacenter);
        const compute = await findHostOrCluster(client, datacenter, s.host);
        const datastore = await findDatastore(client, datacenter, compute, s.datastore);
        const network = await findNetwork(client, datacenter, compute, s.network);
        const folder = await findVmFolder(client, datacenter, s.vmFolder);
        const templateHardware = s.templateVm
          ? await vms.hardwareOf(client, await findTemplateVm(client, datacenter, s.templateVm))
          : undefined;
        return {
          client,
          datacenter,
          folder,
          templateHardware,
          files: new DatastoreFiles(client, datacenter),
          placement: {
            folder: folder.ref,
            resourcePool: compute.resourcePool,
            host: compute.host,
            datastore: datastore.name,
            network,
          },
        };
      } catch (err) {
        await client.close();
        throw err;
      }
    })();
    this.current.catch(() => (this.current = undefined));
    return this.current;
  }

  private async vm(name: string): Promise<MoRef> {
    const session = await this.session();
    const vm = await vms.findVmInFolder(session.client, session.folder.ref, name);
    if (!vm)
      throw new Error(
        `VM '${name}' not found in folder '${session.folder.path || 'vm'}' of ${session.datacenter.name}`,
      );
    return vm;
  }

  /** `[ds] a/b.vmdk`, or `a/b.vmdk` on the connector's datastore. */
  private location(datastorePath: string): DatastoreLocation {
    return datastorePath.trim().startsWith('[')
      ? parseDatastorePath(datastorePath)
      : { datastore: this.settings.datastore, path: datastorePath.replace(/^\/+/, '') };
  }

  /** A descriptor's extents give the capacity; a single-file VMDK's capacity is left to vCenter (0). */
  private async capacityOf(location: DatastoreLocation): Promise<number> {
    const { files } = await this.session();
    const size = await files.size(location);
    if (size === undefined) throw new Error(`disk [${location.datastore}] ${location.path} does not exist`);
    if (size > 64 * 1024) return 0;
    const text = await files.readText(location);
    return isDescriptor(text) ? parseExtents(text).reduce((sum, e) => sum + e.sectors * 512, 0) : 0;
  }
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}

/** Which setting to blame when even logging in failed. */
function connectionCheck(err: Error, settings: VsphereConnectorSettings): ConnectorCheck {
  if (err instanceof CertificateRejected) {
    return {
      field: settings.certificateThumbprint ? 'certificateThumbprint' : 'allowUntrustedCertificate',
      ok: false,
      message: err.message,
    };
  }
  if (err instanceof VimFault && err.fault === 'InvalidLogin') {
    return {
      field: 'password',
      ok: false,
      message: `vCenter refused user '${settings.user}': wrong user or password (${err.faultMessage})`,
    };
  }
  if (err instanceof VimConnectionError) return { field: 'vcenter', ok: false, message: err.message };
  return { field: 'vcenter', ok: false, message: `${settings.vcenter}: ${err.message}` };
}
