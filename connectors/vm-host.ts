import type { DiskFirmware } from '../domain/firmware';
import type { ScriptsReport } from '../domain/vm-contract';

/**
 * The hypervisor capability of a connector (ARCHITECTURE.md §7): disks in the connector's storage,
 * VMs with CPU, memory, power state and snapshots. Every operation is idempotent so an activity can
 * be retried: creating what exists or destroying what is gone succeeds.
 */

// The guest's report (domain/vm-contract.ts) is part of this interface; its implementers take it from here.
export type { ScriptsReport };

export type PowerState = 'off' | 'running' | 'shutting-down';

export interface VmSpec {
  /** Chosen by the caller (the workflow), so a retried create finds its own VM. */
  id: string;
  name: string;
  /** Unset: the host's default size (vSphere: the connector's template VM; local: 2 CPUs, 4 GiB). */
  cpus?: number;
  memoryMiB?: number;
  /** What the boot disk was made for; a hypervisor that boots it gives the VM the same firmware. */
  firmware?: DiskFirmware;
  /**
   * Each VM disk is made from a disk stored with `uploadDisk`: a differencing child of it where the
   * host can (local), a clone otherwise (vSphere); the VM owns its disks, whatever becomes of the stored one.
   */
  disks: { name: string; from: string }[];
  /** Free-form labels; WORKFLOW_TAG tells the power watcher whom to signal. */
  tags: Record<string, string>;
}

export interface Snapshot {
  name: string;
  createdAt: string;
  /** The hypervisor's own references, which MCS catalogs name (vSphere: the VM's and snapshot's morefs). */
  refs?: { vm: string; snapshot: string };
}

export interface VmRecord extends VmSpec {
  cpus: number;
  memoryMiB: number;
  power: PowerState;
  /** When the VM was last powered on; a power-off after it is what a waiting workflow is told about. */
  poweredOnAt?: string;
  snapshots: Snapshot[];
  /** Written by the guest when the layers' first-start scripts are done (MCS master images). */
  scriptsReport?: ScriptsReport;
}

/** A VM or disk the request names is not on the host: retrying cannot make it appear. */
export class VmHostLookupError extends Error {
  override name = 'VmHostLookupError';
}

/** For transfers that take a while: progress to heartbeat, and the activity's cancellation. */
export interface TransferControl {
  /** Aborting stops the transfer and removes what it wrote. */
  signal?: AbortSignal;
  onProgress?: (progress: { phase?: string; done: number; total: number }) => void;
}

export interface VmHost {
  /** Stores `file` as disk `name` in the connector's storage (replacing a partial one). */
  uploadDisk(name: string, file: string, control?: TransferControl): Promise<void>;
  deleteDisk(name: string): Promise<void>;
  hasDisk(name: string): Promise<boolean>;
  /** Virtual size of a stored disk, what the storage must be able to hold once it fills up. */
  diskVirtualSize(name: string): Promise<number>;
  createVm(spec: VmSpec): Promise<VmRecord>;
  getVm(id: string): Promise<VmRecord | undefined>;
  listVms(): Promise<VmRecord[]>;
  powerOn(id: string): Promise<void>;
  /** Asks the guest to shut down; the VM passes through `shutting-down` to `off`. */
  shutdown(id: string): Promise<void>;
  snapshot(id: string, name: string): Promise<Snapshot>;
  /** Removes the VM with its disks and snapshots. */
  destroy(id: string): Promise<void>;
  /**
   * A local path the appliance can read the VM's disk from: the disk itself where the appliance reaches
   * it, else a download into `into`, a folder the caller owns and removes. A download reports its
   * progress and resumes what an earlier attempt fetched into the same folder.
   */
  exportDisk(id: string, disk: string, into?: string, control?: TransferControl): Promise<string>;
  /** Where the VM's disk is, as an admin or the post-publish script names it (file or datastore path). */
  diskLocation(id: string, disk: string): Promise<string>;
}
