import https from 'node:https';
import tls from 'node:tls';
import { ComputeManagementClient, isRestError, type RestError } from '@azure/arm-compute';
import { AuthenticationError, ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { PUBLIC_CLOUD, type AzureConnectorSettings } from './settings';

/**
 * Resource Manager refused a request for a reason retrying cannot heal: a subscription, resource group,
 * location, size or subnet that does not exist or that the service principal may not use, a request
 * Azure finds invalid. Listed in activities/failure-table.ts; throttling and server errors are not.
 */
export class AzureResourceManagerError extends Error {
  override name = 'AzureResourceManagerError';
}

/** Entra ID refused the service principal: an unknown tenant, a wrong client id, a wrong or expired secret. */
export class AzureSignInError extends Error {
  override name = 'AzureSignInError';
  constructor(
    message: string,
    /** The setting Entra ID's answer points at. */
    readonly field: 'tenantId' | 'clientId' | 'clientSecret',
  ) {
    super(message);
  }
}

/** Entra ID's error codes (AADSTS…) that name one sign-in setting; any other refusal is the secret's. */
const SIGN_IN_FIELDS: Record<string, AzureSignInError['field']> = {
  '90002': 'tenantId', // tenant not found
  '700016': 'clientId', // application not found in the directory
};

/** The VM generation Azure boots an OS disk as: BIOS/MBR disks are V1, UEFI/GPT ones V2. */
export type HyperVGeneration = 'V1' | 'V2';

/** The resources an MCS publish makes; all share the image's name (their types differ). */
export type AzureResourceKind = 'virtualMachine' | 'image' | 'disk';

/** The tag that marks a Compositing Engine VM with its engine id (what a clean-up or a test counts). */
export const ENGINE_TAG = 'laminaEngine';

/** Read-only Resource Manager calls outside Compute, with the api-versions of their REST specs. */
const RESOURCES_API = '2022-12-01';
const RESOURCE_GROUPS_API = '2021-04-01';
const NETWORK_API = '2024-05-01';
/** Compute reads of an engine image: a managed image, or a gallery image version. */
const IMAGES_API = '2024-07-01';
const GALLERY_API = '2023-07-03';
/** The Compute API creates and deletes a VM's network interface itself from this Network API version on. */
const VM_NETWORK_API = '2020-11-01';

/**
 * The service principal's credential. A sign-in URL other than the public cloud's (Azure Stack Hub, a
 * sovereign cloud) is trusted as configured: the public cloud's instance discovery does not know it.
 */
export function servicePrincipalCredential(
  settings: AzureConnectorSettings,
  clientSecret: string,
): TokenCredential {
  return new ClientSecretCredential(settings.tenantId, settings.clientId, clientSecret, {
    authorityHost: settings.authorityHost ?? PUBLIC_CLOUD.authorityHost,
    disableInstanceDiscovery: settings.authorityHost !== undefined,
    tlsOptions: trustedCertificates(settings),
  });
}

/** The public CAs, plus the connector's own CA when it names one (sign-in, Resource Manager, storage). */
export function trustedCertificates(
  settings: Pick<AzureConnectorSettings, 'caCertificate'>,
): { ca: string[] } | undefined {
  return settings.caCertificate ? { ca: [...tls.rootCertificates, settings.caCertificate] } : undefined;
}

/**
 * Azure Resource Manager through the Azure SDK (`@azure/arm-compute`): the managed disk, image and
 * master image VM an MCS publish makes, and the reads the connector's Test does. Creation is a PUT of a
 * resource the workflow named, so a retried create finds its own resource; deletion of a resource that
 * is not there succeeds (ARM answers 204).
 */
export class AzureResourceManager {
  readonly #compute: ComputeManagementClient;
  readonly #endpoint: string;

  constructor(
    private readonly settings: AzureConnectorSettings,
    private readonly credential: TokenCredential,
  ) {
    this.#endpoint = (settings.armEndpoint ?? PUBLIC_CLOUD.armEndpoint).replace(/\/$/, '');
    this.#compute = new ComputeManagementClient(credential, settings.subscriptionId, {
      endpoint: this.#endpoint,
      credentials: { scopes: [this.scope()] },
      tlsOptions: trustedCertificates(settings),
    });
  }

  /** The resource id ARM gives a resource of the connector's group. */
  idOf(kind: AzureResourceKind, name: string): string {
    const type = { disk: 'disks', image: 'images', virtualMachine: 'virtualMachines' }[kind];
    return `${this.groupId()}/providers/Microsoft.Compute/${type}/${name}`;
  }

  /** A managed disk imported from a page blob holding a fixed VHD (Azure copies it; the blob may go after). */
  async createDiskFromBlob(
    name: string,
    blobUrl: string,
    generation: HyperVGeneration,
    signal?: AbortSignal,
  ): Promise<string> {
    return this.call(`create managed disk '${name}'`, async () => {
      const disk = await this.#compute.disks.createOrUpdate(
        this.settings.resourceGroup,
        name,
        {
          location: this.settings.location,
          sku: { name: 'StandardSSD_LRS' },
          osType: 'Windows',
          hyperVGeneration: generation,
          creationData: {
            createOption: 'Import',
            sourceUri: blobUrl,
            storageAccountId: `${this.groupId()}/providers/Microsoft.Storage/storageAccounts/${this.settings.storageAccount}`,
          },
          tags: { createdBy: 'lamina' },
        },
        { abortSignal: signal },
      );
      return disk.id ?? this.idOf('disk', name);
    });
  }

  /**
   * A managed image of the same blob, for catalogs made from an image. Azure's managed images are
   * `Generalized`; MCS copies the image's disk and gives each machine its identity itself, and the
   * prepared image carries the answer file for a sysprep when the admin runs one.
   */
  async createImageFromBlob(
    name: string,
    blobUrl: string,
    generation: HyperVGeneration,
    signal?: AbortSignal,
  ): Promise<string> {
    return this.call(`create image '${name}'`, async () => {
      const image = await this.#compute.images.createOrUpdate(
        this.settings.resourceGroup,
        name,
        {
          location: this.settings.location,
          hyperVGeneration: generation,
          storageProfile: {
            osDisk: {
              osType: 'Windows',
              osState: 'Generalized',
              blobUri: blobUrl,
              storageAccountType: 'StandardSSD_LRS',
            },
          },
          tags: { createdBy: 'lamina' },
        },
        { abortSignal: signal },
      );
      return image.id ?? this.idOf('image', name);
    });
  }

  /**
   * The master image VM: the managed disk as its OS disk, on the connector's subnet through a network
   * interface the VM owns (deleted with it), boot diagnostics on for the serial console prepare enabled.
   * The disk stays when the VM is deleted: it is the master image's, removed by its own compensation.
   * Azure starts a VM it creates; MCS needs it only as the master image, so it is then deallocated (no
   * compute billed). Deallocating one that is already deallocated (a retry) succeeds at once.
   */
  async createMasterVm(name: string, diskName: string, signal?: AbortSignal): Promise<string> {
    const id = await this.call(`create virtual machine '${name}'`, async () => {
      const vm = await this.#compute.virtualMachines.createOrUpdate(
        this.settings.resourceGroup,
        name,
        {
          location: this.settings.location,
          hardwareProfile: { vmSize: this.settings.vmSize },
          storageProfile: {
            osDisk: {
              osType: 'Windows',
              createOption: 'Attach',
              managedDisk: { id: this.idOf('disk', diskName) },
              deleteOption: 'Detach',
            },
          },
          networkProfile: this.networkProfile(name),
          diagnosticsProfile: { bootDiagnostics: { enabled: true } },
          tags: { createdBy: 'lamina' },
        },
        { abortSignal: signal },
      );
      return vm.id ?? this.idOf('virtualMachine', name);
    });
    await this.call(`deallocate virtual machine '${name}'`, () =>
      this.#compute.virtualMachines.deallocate(this.settings.resourceGroup, name, { abortSignal: signal }),
    );
    return id;
  }

  /**
   * A Compositing Engine VM (azure-ce-host.ts): made from the connector's engine image with an OS disk
   * and a network interface that are deleted with it, tagged with the engine's id, and handed its launch
   * environment as custom data, which Azure gives the guest alone (provisioning writes it to the VM's
   * disk; Resource Manager never returns it). Azure starts the VM it creates; its boot unit starts
   * `lamina ce` with that environment. A PUT of the name the workflow chose, so a retry finds its own VM.
   */
  async createEngineVm(
    name: string,
    engine: { id: string; imageId: string; customData: string; adminPassword: string },
    signal?: AbortSignal,
  ): Promise<string> {
    return this.call(`create Compositing Engine VM '${name}'`, async () => {
      const vm = await this.#compute.virtualMachines.createOrUpdate(
        this.settings.resourceGroup,
        name,
        {
          location: this.settings.location,
          hardwareProfile: { vmSize: this.settings.vmSize },
          storageProfile: {
            imageReference: { id: engine.imageId },
            osDisk: {
              createOption: 'FromImage',
              deleteOption: 'Delete',
              managedDisk: { storageAccountType: 'StandardSSD_LRS' },
            },
          },
          osProfile: {
            computerName: name,
            adminUsername: 'lamina',
            // Never stored or shown: nobody signs in to an engine; Azure requires one for an image.
            adminPassword: engine.adminPassword,
            customData: engine.customData,
          },
          networkProfile: this.networkProfile(name),
          tags: { createdBy: 'lamina', [ENGINE_TAG]: engine.id },
        },
        { abortSignal: signal },
      );
      return vm.id ?? this.idOf('virtualMachine', name);
    });
  }

  /** The connector's resource group's engine VMs: engine id → VM name (VirtualMachines_List, by tag). */
  async engineVms(): Promise<Map<string, string>> {
    return this.call(
      `list the virtual machines of resource group '${this.settings.resourceGroup}'`,
      async () => {
        const engines = new Map<string, string>();
        for await (const vm of this.#compute.virtualMachines.list(this.settings.resourceGroup)) {
          const id = vm.tags?.[ENGINE_TAG];
          if (id && vm.name) engines.set(id, vm.name);
        }
        return engines;
      },
    );
  }

  /** The VM's power state from its instance view (`running`, `deallocated`…), as the portal shows it. */
  async powerStateOf(name: string): Promise<string | undefined> {
    return this.call(`read the instance view of virtual machine '${name}'`, async () => {
      const view = await this.#compute.virtualMachines.instanceView(this.settings.resourceGroup, name);
      const power = view.statuses?.find((s) => s.code?.startsWith('PowerState/'));
      return power?.code?.slice('PowerState/'.length);
    });
  }

  /** Deletes the resource; one that is not there is already deleted. */
  async delete(kind: AzureResourceKind, name: string): Promise<void> {
    const group = this.settings.resourceGroup;
    await this.call(`delete ${kind} '${name}'`, async () => {
      try {
        if (kind === 'virtualMachine') await this.#compute.virtualMachines.delete(group, name);
        else if (kind === 'image') await this.#compute.images.delete(group, name);
        else await this.#compute.disks.delete(group, name);
      } catch (err) {
        if (!(isRestError(err) && err.statusCode === 404)) throw err;
      }
    });
  }

  /** Signs in: the tenant, client id and secret are right when Entra ID issues a Resource Manager token. */
  async signIn(): Promise<void> {
    try {
      await this.credential.getToken(this.scope());
    } catch (err) {
      throw signInFailure(err, this.settings);
    }
  }

  /** The subscription exists, the service principal sees it, and it is enabled. */
  async checkSubscription(): Promise<string> {
    const { status, body } = await this.read(`/subscriptions/${this.settings.subscriptionId}`, RESOURCES_API);
    if (status !== '200') throw refusal(`subscription '${this.settings.subscriptionId}'`, status, body);
    const state = (body as { state?: string }).state;
    if (state !== 'Enabled')
      throw new AzureResourceManagerError(`subscription '${this.settings.subscriptionId}' is ${state}`);
    return `subscription '${(body as { displayName?: string }).displayName ?? this.settings.subscriptionId}' is enabled`;
  }

  async checkResourceGroup(): Promise<string> {
    const { status, body } = await this.read(this.groupId(), RESOURCE_GROUPS_API);
    if (status !== '200') throw refusal(`resource group '${this.settings.resourceGroup}'`, status, body);
    return `resource group '${this.settings.resourceGroup}' is in ${(body as { location?: string }).location}`;
  }

  /** The sizes the location offers: an unknown location is refused by ARM, an unknown size is not listed. */
  async vmSizesIn(location: string): Promise<string[]> {
    return this.call(`list the VM sizes of location '${location}'`, async () => {
      const names: string[] = [];
      for await (const size of this.#compute.virtualMachineSizes.list(location))
        if (size.name) names.push(size.name);
      return names;
    });
  }

  async checkSubnet(): Promise<string> {
    const { status, body } = await this.read(this.settings.subnetId, NETWORK_API);
    if (status !== '200') throw refusal(`subnet '${this.settings.subnetId}'`, status, body);
    const prefix = (body as { properties?: { addressPrefix?: string } }).properties?.addressPrefix;
    return `subnet '${this.settings.subnetId.split('/').pop()}'${prefix ? ` (${prefix})` : ''} exists`;
  }

  /** The Compositing Engine image exists (a managed image, or a gallery image version) and is readable. */
  async checkEngineImage(imageId: string): Promise<string> {
    const gallery = /\/galleries\//i.test(imageId);
    const { status, body } = await this.read(imageId, gallery ? GALLERY_API : IMAGES_API);
    if (status !== '200') throw refusal(`Compositing Engine image '${imageId}'`, status, body);
    const location = (body as { location?: string }).location;
    return `Compositing Engine image '${imageId.split('/').pop()}'${location ? ` is in ${location}` : ' exists'}`;
  }

  /** The VM's one network interface, on the connector's subnet, made and deleted with the VM. */
  private networkProfile(vmName: string) {
    return {
      networkApiVersion: VM_NETWORK_API,
      networkInterfaceConfigurations: [
        {
          name: `${vmName}-nic`,
          primary: true,
          deleteOption: 'Delete',
          ipConfigurations: [{ name: 'ipconfig1', subnet: { id: this.settings.subnetId } }],
        },
      ],
    };
  }

  private groupId(): string {
    return `/subscriptions/${this.settings.subscriptionId}/resourceGroups/${this.settings.resourceGroup}`;
  }

  private scope(): string {
    return `${this.#endpoint}/.default`;
  }

  /**
   * A GET of a resource outside Compute by id (subscription, resource group, subnet): three reads, made
   * with the service principal's token rather than two more SDK packages for them.
   */
  private async read(id: string, apiVersion: string): Promise<{ status: string; body: unknown }> {
    let token: string;
    try {
      token = (await this.credential.getToken(this.scope()))!.token;
    } catch (err) {
      throw signInFailure(err, this.settings);
    }
    const url = `${this.#endpoint}${id}?api-version=${apiVersion}`;
    return new Promise((resolve, reject) => {
      const request = https.get(
        url,
        {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          ...trustedCertificates(this.settings),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            try {
              resolve({ status: String(response.statusCode), body: text ? JSON.parse(text) : undefined });
            } catch {
              reject(
                new Error(`Resource Manager answered ${url} with HTTP ${response.statusCode} and no JSON`),
              );
            }
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
    });
  }

  /** Runs an ARM call, naming a refusal that retrying cannot heal; throttling and 5xx pass as they are. */
  private async call<T>(what: string, use: () => Promise<T>): Promise<T> {
    try {
      return await use();
    } catch (err) {
      const signIn = signInFailure(err, this.settings);
      if (signIn !== err) throw signIn;
      if (
        isRestError(err) &&
        err.statusCode !== undefined &&
        err.statusCode >= 400 &&
        err.statusCode < 500 &&
        err.statusCode !== 429
      ) {
        throw new AzureResourceManagerError(`Resource Manager refused to ${what}: ${armMessage(err)}`);
      }
      // A long-running operation that ended Failed (core-lro's words, then Azure's code and message).
      if (err instanceof Error && err.message.startsWith(LRO_FAILED)) {
        const verdict = err.message.slice(LRO_FAILED.length).replace(/^\. /, '').replace(/\. /, ': ');
        throw new AzureResourceManagerError(`Azure could not ${what}: ${verdict || 'the operation failed'}`);
      }
      throw err;
    }
  }
}

const LRO_FAILED = 'The long-running operation has failed';

/** `code: message` from an ARM error body, the way the portal shows it. */
function armMessage(err: RestError): string {
  const details = err.details as ArmErrorBody | undefined;
  let error = details?.error;
  if (!error?.message && err.response?.bodyAsText) {
    try {
      error = (JSON.parse(err.response.bodyAsText) as ArmErrorBody).error;
    } catch {
      // Not JSON: the SDK's own message says what happened.
    }
  }
  const code = error?.code ?? err.code;
  const message = error?.message ?? err.message;
  return code ? `${code}: ${message}` : message;
}

interface ArmErrorBody {
  error?: { code?: string; message?: string };
}

function refusal(what: string, status: string, body: unknown): AzureResourceManagerError {
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return new AzureResourceManagerError(
    `${what}: ${error?.code ?? `HTTP ${status}`}${error?.message ? `: ${error.message}` : ''}`,
  );
}

/** What @azure/identity throws when Entra ID refuses the sign-in, or its metadata cannot be read. */
const SIGN_IN_ERRORS = ['AuthenticationError', 'AuthenticationRequiredError', 'CredentialUnavailableError'];

/** Entra ID's refusal (AADSTS code and its first sentence) in terms of the connector's sign-in fields. */
function signInFailure(err: unknown, settings: AzureConnectorSettings): unknown {
  if (!(err instanceof Error) || !SIGN_IN_ERRORS.includes(err.name)) return err;
  if (err.message.includes('endpoints_resolution_error')) {
    // MSAL reads the tenant's OpenID metadata first; Entra ID answers it 400 for a tenant it does not know.
    const authority = settings.authorityHost ?? PUBLIC_CLOUD.authorityHost;
    return new AzureSignInError(
      `the sign-in metadata of tenant '${settings.tenantId}' could not be read from ${authority}: ` +
        'no such tenant, or the sign-in URL does not answer',
      'tenantId',
    );
  }
  const description = (err as AuthenticationError).errorResponse?.errorDescription ?? err.message;
  const aadsts = /AADSTS(\d+): ([^]*?\.)(\s|$)/.exec(description);
  return new AzureSignInError(
    `Entra ID refused the service principal '${settings.clientId}' of tenant '${settings.tenantId}': ` +
      (aadsts ? `AADSTS${aadsts[1]}: ${aadsts[2]}` : description.split(/\r?\n/)[0]),
    SIGN_IN_FIELDS[aadsts?.[1] ?? ''] ?? 'clientSecret',
  );
}
