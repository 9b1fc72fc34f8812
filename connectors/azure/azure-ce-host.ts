import { randomBytes } from 'node:crypto';
import type { CeHost, EngineDestination, EngineLaunch } from '../ce-host';
import { VmHostLookupError } from '../vm-host';
import type { AzureResourceManager } from './resource-manager';
import type { AzureConnectorSettings } from './settings';

/**
 * The environment variable that carries the connector's CA (`caCertificate`, PEM) to its engines, beside
 * the launch environment offload-engines.ts names: an engine reaches the connector's storage endpoint
 * itself (its blob tokens), and an Azure Stack Hub or private endpoint presents a certificate of the
 * organisation's own CA, which the engine must trust as the appliance does. Not a secret; never logged.
 */
export const ENGINE_CA_CERTIFICATE = 'LAMINA_CE_CA_CERTIFICATE';

/** What Azure keeps of a VM's custom data: the decoded bytes, at most (Compute API, osProfile.customData). */
const CUSTOM_DATA_MAX_BYTES = 65_535;

/**
 * Compositing Engines on Azure (ARCHITECTURE.md §6; reference/image-portability.txt: "when running a
 * prepare task in Azure, the CE is created in Azure"): each a VM made through Resource Manager from the
 * connector's engine image (`ceImageId`) on its subnet, with its launch environment as custom data
 * (base64 JSON, which the image's boot unit hands `lamina ce`; with the connector's CA when it has one,
 * so the engine trusts the storage endpoint as the appliance does), tagged with the engine's id, and deleted
 * with its OS disk and network interface. Azure engines do Image Portability's prepare: they read the
 * uploaded page blob and write the prepared one through blob-scoped SAS tokens (activities/
 * ips-engine-prepare.ts); they compose no images for publishing (an Azure connector publishes nothing).
 */
export class AzureCeHost implements CeHost {
  constructor(
    private readonly settings: AzureConnectorSettings,
    private readonly arm: () => AzureResourceManager,
  ) {}

  async createEngine(launch: EngineLaunch): Promise<void> {
    const imageId = this.settings.ceImageId;
    // Final, like a VM that is not there: retrying cannot make the setting appear.
    if (!imageId)
      throw new VmHostLookupError(
        'the Azure connector names no Compositing Engine image (ceImageId): set one, or turn Offload ' +
          'Compositing off',
      );
    const customData = Buffer.from(JSON.stringify(this.environmentOf(launch)));
    // Final too, and said before Resource Manager refuses the VM with a message that names no cause.
    if (customData.length > CUSTOM_DATA_MAX_BYTES)
      throw new VmHostLookupError(
        `the Compositing Engine's launch environment is ${customData.length} bytes, more than the ` +
          `${CUSTOM_DATA_MAX_BYTES} Azure keeps as a VM's custom data` +
          (this.settings.caCertificate
            ? `; the connector's caCertificate takes ${this.settings.caCertificate.length} of them: give ` +
              "only the CA that issued the storage endpoint's and Resource Manager's certificates"
            : ''),
      );
    const arm = this.arm();
    // A retried launch finds its VM: a second PUT would change its password and custom data, which
    // Azure refuses for a VM that exists.
    if ((await arm.engineVms()).has(launch.id)) return;
    await arm.createEngineVm(launch.name, {
      id: launch.id,
      imageId,
      customData: customData.toString('base64'),
      adminPassword: `${randomBytes(24).toString('base64url')}aA1!`,
    });
  }

  /** The launch environment, with the connector's CA when it has one (ENGINE_CA_CERTIFICATE). */
  private environmentOf(launch: EngineLaunch): Record<string, string> {
    const ca = this.settings.caCertificate;
    return ca ? { ...launch.environment, [ENGINE_CA_CERTIFICATE]: ca } : launch.environment;
  }

  /** Deletes the engine VM (its OS disk and network interface go with it); one already gone is fine. */
  async destroyEngine(id: string): Promise<void> {
    const arm = this.arm();
    const name = (await arm.engineVms()).get(id);
    if (name) await arm.delete('virtualMachine', name);
  }

  async listEngines(): Promise<string[]> {
    return [...(await this.arm().engineVms()).keys()];
  }

  /**
   * An Azure connector takes no publishes, so no compose is offloaded to it: its engines prepare page
   * blobs for Image Portability, which names its blobs itself.
   */
  async destinationOf(): Promise<EngineDestination> {
    throw new VmHostLookupError(
      'an Azure connector publishes no images: its Compositing Engines prepare uploaded page blobs for ' +
        'Image Portability only',
    );
  }
}
