import { ENGINE_TAG } from '../../connectors/azure/resource-manager';
import type { ArmFake } from '../azure/arm-fake';
import { EngineGuestProcesses } from '../offload/engine-guest-processes';

/**
 * The guests of Compositing Engine VMs in the ARM fake, which boots none: for every engine VM (tagged
 * with its engine id) whose creation succeeded, `lamina ce` with the environment the VM's custom data
 * carries (base64 JSON, as Azure provisioning hands it to the guest), ended when the VM is deleted.
 */
export class AzureEngineGuests extends EngineGuestProcesses {
  constructor(
    private readonly arm: ArmFake,
    logDir: string,
  ) {
    super(logDir);
  }

  protected async runningEngines(): Promise<Map<string, string>> {
    const on = new Map<string, string>();
    for (const id of this.arm.resourceIds()) {
      const vm = this.arm.resource(id);
      if (vm?.type !== 'Microsoft.Compute/virtualMachines') continue;
      const engine = (vm.tags as Record<string, string> | undefined)?.[ENGINE_TAG];
      const props = vm.properties as { provisioningState?: string; osProfile?: { customData?: string } };
      if (engine && props.provisioningState === 'Succeeded' && props.osProfile?.customData)
        on.set(engine, props.osProfile.customData);
    }
    return on;
  }
}
