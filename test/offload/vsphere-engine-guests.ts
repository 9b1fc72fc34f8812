import { ENGINE_ENVIRONMENT_KEY, ENGINE_SESSION_KEY } from '../../connectors/vsphere/ce-host/engine-vms';
import { listObjects, readProperties } from '../../connectors/vsphere/property-collector';
import { extraConfigOf } from '../../connectors/vsphere/virtual-machines';
import type { VsphereConnector } from '../../connectors/vsphere/vsphere-connector';
import { EngineGuestProcesses } from './engine-guest-processes';

/**
 * The guests of Compositing Engine VMs on vcsim, which runs none: for every powered-on VM in the
 * connector's folder that carries an engine environment in guestinfo, `lamina ce` with that
 * environment (as `vmtoolsd --cmd "info-get guestinfo.lamina.ce.environment"` would hand it over),
 * ended when its VM is powered off or destroyed.
 */
export class EngineGuests extends EngineGuestProcesses {
  /** The keys of the vCenter sessions the engine VMs seen were given. */
  readonly sessionKeys = new Set<string>();

  constructor(
    private readonly inspector: VsphereConnector,
    logDir: string,
  ) {
    super(logDir);
  }

  protected async runningEngines(): Promise<Map<string, string>> {
    const session = await this.inspector.session();
    const vms = await listObjects(
      session.client,
      'VirtualMachine',
      ['config.extraConfig', 'runtime.powerState'],
      session.folder.ref,
    );
    const on = new Map<string, string>();
    for (const vm of vms) {
      const config = extraConfigOf(vm.props.get('config.extraConfig'));
      const environment = config.get(ENGINE_ENVIRONMENT_KEY);
      const sessionKey = config.get(ENGINE_SESSION_KEY);
      if (sessionKey) this.sessionKeys.add(sessionKey);
      if (environment && vm.props.get('runtime.powerState')?.text === 'poweredOn')
        on.set(config.get('lamina.engine')!, environment);
    }
    return on;
  }

  /** Sessions given to engine VMs that vCenter still has: none once their engines are removed. */
  async liveEngineSessions(): Promise<string[]> {
    const { client } = await this.inspector.session();
    const sessions = (
      await readProperties(client, client.serviceContent.sessionManager, ['sessionList'])
    ).get('sessionList');
    const live = (sessions?.children ?? []).map((session) => session.textOf('key'));
    return [...this.sessionKeys].filter((key) => live.includes(key));
  }
}
