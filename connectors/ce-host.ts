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
   * What `lamina ce` starts with: its id, its one-time registration token, where Temporal is, the CHAP
   * secret of its task's target. Secret: it reaches the engine only (a process's environment, a VM's
   * guest-only configuration), never a log or an argument.
   */
  environment: Record<string, string>;
}

/** Where an engine writes the image so the connector's VmHost knows it as a stored disk. */
export interface EngineDestination {
  kind: 'file';
  /** Path on the engine's machine (the local connector's engines run on the appliance). */
  path: string;
}

export interface CeHost {
  createEngine(launch: EngineLaunch): Promise<void>;
  /** Stops and removes the engine; one already gone is fine. */
  destroyEngine(id: string): Promise<void>;
  /** Ids of the engines that exist (running or not): what a clean-up or a test counts. */
  listEngines(): Promise<string[]>;
  /** Where an engine writes the disk the VmHost then stores as `diskName`. */
  destinationOf(diskName: string): EngineDestination;
}
