/**
 * The Compositing Engine capability of a connector (ARCHITECTURE.md §1, §6 offloadCompose): a machine on
 * the target platform, made for one compose and removed after it, that reads the layers over iSCSI and
 * writes the image straight into the platform's storage. Operations are idempotent, like VmHost's.
 */
export interface EngineLaunch {
  /** Chosen by the workflow (a UUID): a retried create finds its own engine. */
  id: string;
  name: string;
  /**
   * What `lamina ce` starts with: its id, its one-time registration token, where Temporal is, and for an
   * engine that reads layers the CHAP secret of its task's target. Secret: it reaches the engine only (a
   * process's environment, a VM's guest-only configuration), never a log or an argument.
   */
  environment: Record<string, string>;
  /**
   * The appliance host's network namespace (`ip netns`) an engine that is a process there runs in
   * (LAMINA_CE_NETNS); an engine that is a VM has the network its connector gives it.
   */
  networkNamespace?: string;
}

/**
 * A connector cannot start an engine as it is set up (a network namespace that is gone): the admin must
 * change something, so the task fails at once naming it instead of retrying.
 */
export class EngineLaunchError extends Error {}

/** Where an engine writes the image so the connector's VmHost knows it as a stored disk. */
export type EngineDestination = EngineFileDestination | EngineDatastoreDestination;

export interface EngineFileDestination {
  kind: 'file';
  /** Path on the engine's machine (the local connector's engines run on the appliance). */
  path: string;
}

/**
 * A VMDK on a vSphere datastore (connectors/vsphere/ce-host/): the engine composes a hosted sparse VMDK,
 * whose file holds only allocated grains, and sends it through vCenter's datastore file service with the
 * session its launch gave it (ENGINE_DATASTORE_SESSION). Names only, no secret: it travels in history.
 */
export interface EngineDatastoreDestination {
  kind: 'datastore';
  /** The connector whose VmHost stores the disk: the appliance removes a partial one through it. */
  connectorId: string;
  /** vCenter as the connector reaches it (`host[:port]`) and how its certificate is trusted. */
  vcenter: string;
  trust: { allowUntrustedCertificate: boolean; thumbprint?: string };
  datacenter: { name: string; ref: string };
  datastore: string;
  /** The disk's descriptor inside the datastore, e.g. `lamina/disks/image-….vmdk`. */
  path: string;
}

/**
 * The environment variable that carries an engine's vCenter session cookie (a login made for that
 * engine alone), beside the launch environment offload-engines.ts names.
 */
export const ENGINE_DATASTORE_SESSION = 'LAMINA_CE_DATASTORE_SESSION';

export interface CeHost {
  createEngine(launch: EngineLaunch): Promise<void>;
  /** Stops and removes the engine; one already gone is fine. */
  destroyEngine(id: string): Promise<void>;
  /** Ids of the engines that exist (running or not): what a clean-up or a test counts. */
  listEngines(): Promise<string[]>;
  /** Where an engine writes the disk the VmHost then stores as `diskName`. */
  destinationOf(diskName: string, connectorId: string): Promise<EngineDestination>;
  /**
   * Removes what an engine wrote to a datastore, finished or not; nothing there is fine. (A file
   * destination is on the appliance, which removes it itself.)
   */
  removeOutput?(destination: EngineDatastoreDestination): Promise<void>;
}
