import type { CeHost } from './ce-host';
import type { ImageStore } from './image-store';
import type { VmHost } from './vm-host';

/**
 * The one interface every connector type implements (ARCHITECTURE.md §7). Capabilities beyond `test`
 * are declared per type: a hypervisor has `vms`, a file-share-like target has `images`.
 */
export interface ConnectorCheck {
  /** The setting the check is about, so the admin knows which field to fix. */
  field?: string;
  ok: boolean;
  message: string;
}

export interface Connector {
  readonly type: string;
  /** Checks every setting against the real system; never throws for a bad setting, reports it. */
  test(): Promise<ConnectorCheck[]>;
  /** VMs, disks and snapshots: packaging machines and MCS master images run here. */
  readonly vms?: VmHost;
  /** Image files: published images are copied here. */
  readonly images?: ImageStore;
  /** Compositing Engines: composes offloaded to the platform write their image into its storage. */
  readonly ce?: CeHost;
  /** Ends the connector's session with the platform (a vCenter login); types without one omit it. */
  close?(): Promise<void>;
}
