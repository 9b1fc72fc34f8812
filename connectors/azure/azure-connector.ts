import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  isRestError,
  StorageSharedKeyCredential,
  type ContainerClient,
  type UserDelegationKey,
} from '@azure/storage-blob';
import type { Connector, ConnectorCheck } from '../connector';
import { AzureCeHost } from './azure-ce-host';
import { AzureStorageError, containerClient, storageFailure, storagePipeline } from './blob-storage';
import { uploadPageBlobVhd, type PageBlobUploadOptions, type PageBlobUploadResult } from './page-blob-upload';
import {
  AzureResourceManager,
  AzureResourceManagerError,
  AzureSignInError,
  servicePrincipalCredential,
  type HyperVGeneration,
} from './resource-manager';
import { blobEndpointOf, type AzureConnectorSecrets, type AzureConnectorSettings } from './settings';

/**
 * The Azure connector (ARCHITECTURE.md §7): images go to the configured container as page blobs
 * holding fixed VHDs (page-blob-upload.ts); Resource Manager makes managed disks, images and VMs of them
 * (resource-manager.ts). One instance per activity run; secrets stay in #private fields.
 */
export class AzureConnector implements Connector {
  readonly type = 'azure';
  /** The upload capability: disks become page blobs in the connector's container. */
  readonly upload = this;
  /** Compositing Engine VMs made from the settings' ceImageId (azure-ce-host.ts), for Image Portability's prepare. */
  readonly ce: AzureCeHost;
  readonly #secrets: AzureConnectorSecrets;
  #credential?: TokenCredential;
  #arm?: AzureResourceManager;

  constructor(
    readonly settings: AzureConnectorSettings,
    secrets: AzureConnectorSecrets,
  ) {
    this.#secrets = secrets;
    this.ce = new AzureCeHost(settings, () => this.resourceManager());
  }

  /**
   * One result per setting, each from the service that owns it: Entra ID for the tenant and service
   * principal, Resource Manager for the subscription, resource group, location, VM size and subnet, the
   * Blob service for the storage account and container. A setting whose check depends on one that failed
   * says so instead of repeating its error.
   */
  async test(): Promise<ConnectorCheck[]> {
    const arm = this.resourceManager();
    const signIn = await check('clientSecret', () =>
      arm
        .signIn()
        .then(() => `signed in to tenant '${this.settings.tenantId}' as '${this.settings.clientId}'`),
    );
    const storage = await this.checkContainer();
    if (!signIn.ok) {
      const skipped = (field: string) => ({ field, ok: false, message: 'not checked: the sign-in failed' });
      return [
        signIn,
        ...['subscriptionId', 'resourceGroup', 'location', 'vmSize', 'subnetId', ...this.engineField()].map(
          skipped,
        ),
        ...storage,
      ];
    }
    const subscription = await check('subscriptionId', () => arm.checkSubscription());
    const dependent = (field: string, run: () => Promise<string>) =>
      subscription.ok
        ? check(field, run)
        : Promise.resolve({ field, ok: false, message: 'not checked: the subscription is not usable' });
    const group = await dependent('resourceGroup', () => arm.checkResourceGroup());
    let sizes: string[] | undefined;
    const location = await dependent('location', async () => {
      sizes = await arm.vmSizesIn(this.settings.location);
      return `location '${this.settings.location}' offers ${sizes.length} VM sizes`;
    });
    const vmSize: ConnectorCheck = sizes
      ? sizes.includes(this.settings.vmSize)
        ? {
            field: 'vmSize',
            ok: true,
            message: `${this.settings.vmSize} is offered in ${this.settings.location}`,
          }
        : {
            field: 'vmSize',
            ok: false,
            message: `${this.settings.vmSize} is not offered in location '${this.settings.location}'`,
          }
      : { field: 'vmSize', ok: false, message: 'not checked: the location is not usable' };
    const subnet = await dependent('subnetId', () => arm.checkSubnet());
    const engineImage = this.settings.ceImageId;
    const engine = engineImage ? [await dependent('ceImageId', () => arm.checkEngineImage(engineImage))] : [];
    return [signIn, subscription, group, location, vmSize, subnet, ...engine, ...storage];
  }

  /** The engine image setting, checked when it is set (Offload Compositing). */
  private engineField(): string[] {
    return this.settings.ceImageId ? ['ceImageId'] : [];
  }

  /** Resource Manager, signed in as the connector's service principal. */
  resourceManager(): AzureResourceManager {
    this.#arm ??= new AzureResourceManager(this.settings, this.credential());
    return this.#arm;
  }

  /**
   * The generation Azure must boot the blob's disk as, from its own partition table: a GPT disk (its
   * protective MBR entry is type 0xEE) is UEFI, V2; an MBR disk is BIOS, V1.
   */
  async hyperVGenerationOf(blobName: string): Promise<HyperVGeneration> {
    const mbr = await this.storage(async (container) => {
      const blob = container.getPageBlobClient(blobName);
      if (!(await blob.exists()))
        throw new AzureStorageError(
          `container '${this.settings.container}' has no blob '${blobName}': upload the disk first`,
          'container',
        );
      return blob.downloadToBuffer(0, 512);
    });
    return mbr[450] === 0xee ? 'V2' : 'V1';
  }

  /** Where a blob of this name lives, as the admin and ARM name it (no SAS: it is a secret). */
  blobUrl(blobName: string): string {
    return `${blobEndpointOf(this.settings)}/${this.settings.container}/${blobName}`;
  }

  /**
   * A SAS on one blob of the container (`sp` as given, e.g. `r`, `cw`), expiring at `expiresOn`: what
   * a Compositing Engine reaches a blob with instead of the connector's own credential. Signed with the
   * storage account key when the connector has it; else with a user delegation key the service principal
   * gets from the storage account (Get User Delegation Key, valid until the SAS expires), as Azure
   * accounts that allow no shared key require. A principal that may not get one is named.
   */
  async blobSas(blobName: string, permissions: string, expiresOn: Date): Promise<string> {
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const values = {
      containerName: this.settings.container,
      blobName,
      permissions: BlobSASPermissions.parse(permissions),
      startsOn,
      expiresOn,
    };
    if (this.#secrets.storageKey)
      return generateBlobSASQueryParameters(
        values,
        new StorageSharedKeyCredential(this.settings.storageAccount, this.#secrets.storageKey),
      ).toString();
    const key = await this.userDelegationKey(startsOn, expiresOn);
    return generateBlobSASQueryParameters(values, key, this.settings.storageAccount).toString();
  }

  private async userDelegationKey(startsOn: Date, expiresOn: Date): Promise<UserDelegationKey> {
    const service = new BlobServiceClient(
      blobEndpointOf(this.settings),
      this.credential(),
      storagePipeline(this.settings),
    );
    try {
      return await service.getUserDelegationKey(startsOn, expiresOn);
    } catch (err) {
      if (err instanceof AzureSignInError) throw err;
      const cause = isRestError(err)
        ? `${err.code ?? err.statusCode}: ${err.message.split('\n')[0]}`
        : (err as Error).message;
      throw new AzureStorageError(
        `the engine's blob tokens are signed with a user delegation key, as the connector has no key of ` +
          `storage account '${this.settings.storageAccount}', and service principal '${this.settings.clientId}' ` +
          `could not get one (${cause}): give it a role that may (Storage Blob Delegator, or Storage Blob ` +
          'Data Contributor), or give the connector its storageKey',
        'credential',
      );
    }
  }

  /** Uploads a local disk of any format as a fixed-VHD page blob, resuming a partial one of the same source. */
  async uploadVhd(
    source: string,
    blobName: string,
    options: PageBlobUploadOptions = {},
  ): Promise<PageBlobUploadResult> {
    return this.storage((container) => uploadPageBlobVhd(container, blobName, source, options));
  }

  /** Removes the blob if it is there; in a container that does not exist there is nothing to remove. */
  async deleteBlob(blobName: string): Promise<void> {
    await this.storage(async (container) => {
      await container
        .getBlobClient(blobName)
        .deleteIfExists()
        .catch((err: unknown) => {
          if (!(isRestError(err) && err.code === 'ContainerNotFound')) throw err;
        });
    });
  }

  /** The blob's type (`PageBlob`, `BlockBlob`, `AppendBlob`); undefined when the container has no such blob. */
  async blobType(blobName: string): Promise<string | undefined> {
    return this.storage((container) =>
      container
        .getBlobClient(blobName)
        .getProperties()
        .then(
          (properties) => properties.blobType ?? 'blob',
          (err: unknown) => {
            if (isRestError(err) && err.statusCode === 404) return undefined;
            throw err;
          },
        ),
    );
  }

  async hasBlob(blobName: string): Promise<boolean> {
    return this.storage((container) => container.getBlobClient(blobName).exists());
  }

  /** Copies a blob to a local file (verification, and the way back from Azure). */
  async downloadBlob(blobName: string, file: string): Promise<void> {
    await this.storage((container) => container.getBlobClient(blobName).downloadToFile(file));
  }

  /** Names of the blobs in the container that start with `prefix`. */
  async listBlobs(prefix: string): Promise<string[]> {
    return this.storage(async (container) => {
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
      return names;
    });
  }

  /** The service principal's credential (Resource Manager, and storage when no SAS or key is given). */
  credential(): TokenCredential {
    this.#credential ??= servicePrincipalCredential(this.settings, this.#secrets.clientSecret);
    return this.#credential;
  }

  /** Runs `use` on the container, naming a refusal of the storage service in terms of the settings. */
  private async storage<T>(use: (container: ContainerClient) => Promise<T>): Promise<T> {
    const container = containerClient(this.settings, this.#secrets, () => this.credential());
    try {
      return await use(container);
    } catch (err) {
      throw storageFailure(err, this.settings);
    }
  }

  /**
   * The storage account answers and the container exists and takes writes: a small probe blob is
   * written and removed. A refusal names the setting to correct: the container, or the credential the
   * connector reaches storage with (the SAS, the account key, else the service principal).
   */
  private async checkContainer(): Promise<ConnectorCheck[]> {
    const where = `${this.blobUrl('')}`.replace(/\/$/, '');
    const account = (ok: boolean, message: string) => ({ field: 'storageAccount', ok, message });
    const answers = account(true, `storage account '${this.settings.storageAccount}' answers`);
    try {
      await this.storage(async (container) => {
        const probe = container.getBlockBlobClient(`.lamina-probe-${randomUUID()}`);
        await probe.upload('ok', 2);
        await probe.delete();
      });
      return [answers, { field: 'container', ok: true, message: `${where} is writable` }];
    } catch (err) {
      if (!(err instanceof AzureStorageError)) {
        return [
          account(false, `${where}: ${(err as Error).message}`),
          { field: 'container', ok: false, message: 'not checked: the storage account does not answer' },
        ];
      }
      if (err.problem === 'container')
        return [answers, { field: 'container', ok: false, message: err.message }];
      const credential = this.#secrets.storageSas
        ? 'storageSas'
        : this.#secrets.storageKey
          ? 'storageKey'
          : 'clientSecret';
      return [
        answers,
        { field: credential, ok: false, message: err.message },
        { field: 'container', ok: false, message: 'not checked: the storage credential was refused' },
      ];
    }
  }
}

/** A setting's check: its success message, or the named refusal as the failure. */
async function check(field: string, run: () => Promise<string>): Promise<ConnectorCheck> {
  try {
    return { field, ok: true, message: await run() };
  } catch (err) {
    if (err instanceof AzureSignInError) return { field: err.field, ok: false, message: err.message };
    if (err instanceof AzureResourceManagerError) return { field, ok: false, message: err.message };
    return { field, ok: false, message: `${field}: ${(err as Error).message}` };
  }
}
