import type { CeHost, EngineDatastoreDestination, EngineLaunch } from '../../ce-host';
import { ENGINE_DATASTORE_SESSION } from '../../ce-host';
import { VmHostLookupError } from '../../vm-host';
import { findTemplateVm, SettingProblem } from '../inventory';
import type { VsphereConnectorSettings } from '../settings';
import * as vms from '../virtual-machines';
import { storedDisk } from '../vsphere-vm-host';
import type { VsphereOperations } from '../vsphere-session';
import {
  cloneEngineVm,
  datastoreRef,
  engineConfig,
  engineSessionKey,
  engineVms,
  markEngineVm,
  vmFolderPath,
} from './engine-vms';

/** A vCenter session logged in for one engine: the cookie it is handed, the key that ends it. */
export interface EngineSession {
  cookie: string;
  key: string;
}

/** What the CE host needs of the connector beyond the VmHost's operations. */
export interface EngineHostOperations extends VsphereOperations {
  /** A vCenter session logged in for one engine and let go of (the engine logs it out). */
  loginForEngine(): Promise<EngineSession>;
  /** Ends an engine's session by its key, if it still lives (an engine killed, or that failed). */
  endEngineSession(key: string): Promise<void>;
}

/**
 * Compositing Engines on vSphere (ARCHITECTURE.md §6 offloadCompose): each a clone of the connector's
 * engine template VM (`ceTemplateVm`) in the configured folder, datastore and network, powered on with
 * its launch environment in guestinfo, where the template's boot unit reads it to start `lamina ce`.
 * The environment carries a vCenter session of the engine's own, with which it writes the image into the
 * datastore as the stored disk the master image VM is made from (sparse-image-upload.ts).
 */
export class VsphereCeHost implements CeHost {
  readonly #ops: EngineHostOperations;

  constructor(
    ops: EngineHostOperations,
    private readonly settings: VsphereConnectorSettings,
  ) {
    this.#ops = ops;
  }

  async createEngine(launch: EngineLaunch): Promise<void> {
    const templateName = this.settings.ceTemplateVm;
    // Final, like a VM that is not there: retrying cannot make the setting appear.
    if (!templateName)
      throw new VmHostLookupError(
        'the vSphere connector names no Compositing Engine template VM (ceTemplateVm): set one, or turn ' +
          'Offload Compositing off',
      );
    const session = await this.#ops.session();
    const { client } = session;
    let vm = (await engineVms(client, session.folder.ref)).get(launch.id);
    if (!vm) {
      const engineSession = await this.#ops.loginForEngine();
      const environment = { ...launch.environment, [ENGINE_DATASTORE_SESSION]: engineSession.cookie };
      // A clone whose activity died before it was marked is this engine's: same name, unmarked.
      vm = await vms.findVmInFolder(client, session.folder.ref, launch.name);
      if (vm)
        await markEngineVm(client, vm, launch.id, engineConfig(launch.id, environment, engineSession.key));
      else
        vm = await cloneEngineVm(
          client,
          await findTemplateVm(client, session.datacenter, templateName, 'ceTemplateVm').catch((err) => {
            throw err instanceof SettingProblem ? new VmHostLookupError(`ceTemplateVm: ${err.message}`) : err;
          }),
          {
            id: launch.id,
            name: launch.name,
            placement: session.placement,
            datastore: await datastoreRef(client, session.datacenter.ref, session.placement.datastore),
            environment,
            sessionKey: engineSession.key,
          },
        );
    }
    await vms.powerOn(client, vm);
  }

  /**
   * Ends the engine's vCenter session (its cookie sat in guestinfo, which whoever may read the VM's
   * settings can read: it must not outlive the engine), then powers the VM off and destroys it with its
   * disks, then its folder (what vcsim leaves).
   */
  async destroyEngine(id: string): Promise<void> {
    const session = await this.#ops.session();
    const vm = (await engineVms(session.client, session.folder.ref)).get(id);
    if (!vm) return;
    const sessionKey = await engineSessionKey(session.client, vm);
    if (sessionKey) await this.#ops.endEngineSession(sessionKey);
    const folder = await vmFolderPath(session.client, vm);
    await vms.destroyVm(session.client, vm);
    if (folder) await session.files.remove({ datastore: session.placement.datastore, path: folder });
  }

  async listEngines(): Promise<string[]> {
    const session = await this.#ops.session();
    return [...(await engineVms(session.client, session.folder.ref)).keys()];
  }

  async destinationOf(diskName: string, connectorId: string): Promise<EngineDatastoreDestination> {
    const session = await this.#ops.session();
    return {
      kind: 'datastore',
      connectorId,
      vcenter: this.settings.vcenter,
      trust: {
        allowUntrustedCertificate: this.settings.allowUntrustedCertificate,
        ...(this.settings.certificateThumbprint ? { thumbprint: this.settings.certificateThumbprint } : {}),
      },
      datacenter: { name: session.datacenter.name, ref: session.datacenter.ref.value },
      datastore: session.placement.datastore,
      path: storedDisk(diskName),
    };
  }

  async removeOutput(destination: EngineDatastoreDestination): Promise<void> {
    await this.#ops.deleteDisk(`[${destination.datastore}] ${destination.path}`);
  }
}
