import type { DatastoreFiles } from './datastore-files';
import type { DownloadedDisk } from './disk-download';
import type { DiskTransferOptions, UploadedDisk } from './disk-upload';
import type { Datacenter, VmFolder } from './inventory';
import type { ProgressCallback } from './tasks';
import type { VimClient } from './vim-client';
import type { MoRef } from './vim-fault';
import type * as vms from './virtual-machines';

/**
 * What the VmHost (vsphere-vm-host.ts) builds on, apart from the connector that provides it
 * (vsphere-connector.ts): the connector creates its host, so the host knows the connector only
 * through this contract and the two modules do not import each other.
 */
export interface VsphereSession {
  client: VimClient;
  datacenter: Datacenter;
  folder: VmFolder;
  placement: vms.VmPlacement;
  files: DatastoreFiles;
  templateHardware?: vms.VmHardware;
}

export interface CreateVmRequest {
  name: string;
  /** Datastore paths (`[ds] folder/disk.vmdk`, or relative to the connector's datastore), boot disk first. */
  disks: string[];
  /** Override the template VM's (or the default) hardware. */
  cpus?: number;
  memoryMiB?: number;
  firmware?: 'bios' | 'efi';
  guestId?: string;
  /** vCenter's instance UUID for the VM, chosen by the caller to find it again. */
  instanceUuid?: string;
  /** Advanced configuration values (config.extraConfig), e.g. labels read back later. */
  extraConfig?: Record<string, string>;
}

/** The connector's operations the VmHost uses; VsphereConnector implements them. */
export interface VsphereOperations {
  /** The logged-in session with every setting resolved (once). */
  session(): Promise<VsphereSession>;
  uploadDisk(localDisk: string, target: string, options?: DiskTransferOptions): Promise<UploadedDisk>;
  downloadDisk(source: string, localFile: string, options?: DiskTransferOptions): Promise<DownloadedDisk>;
  deleteDisk(diskPath: string): Promise<void>;
  createVm(request: CreateVmRequest, onProgress?: ProgressCallback): Promise<{ vm: MoRef; created: boolean }>;
}
