import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { isRestError, type ContainerClient } from '@azure/storage-blob';
import type { Connector, ConnectorCheck } from '../connector';
import { AzureStorageError, containerClient, storageFailure } from './blob-storage';
import { uploadPageBlobVhd, type PageBlobUploadOptions, type PageBlobUploadResult } from './page-blob-upload';
import {
  blobEndpointOf,
  PUBLIC_CLOUD,
  type AzureConnectorSecrets,
  type AzureConnectorSettings,
} from './settings';

/**
 * The Azure connector (ARCHITECTURE.md §7): images go to the configured container as page blobs
 * holding fixed VHDs (page-blob-upload.ts). One instance per activity run; secrets stay in #private fields.
 */
export class AzureConnector implements Connector {
  readonly type = 'azure';
  /** The upload capability: disks become page blobs in the connector's container. */
  readonly upload = this;
  readonly #secrets: AzureConnectorSecrets;
  #credential?: TokenCredential;

  constructor(
    readonly settings: AzureConnectorSettings,
    secrets: AzureConnectorSecrets,
  ) {
    this.#secrets = secrets;
  }

  async test(): Promise<ConnectorCheck[]> {
    return [await this.checkContainer()];
  }

  /** Where a blob of this name lives, as the admin and ARM name it (no SAS: it is a secret). */
  blobUrl(blobName: string): string {
    return `${blobEndpointOf(this.settings)}/${this.settings.container}/${blobName}`;
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
    this.#credential ??= new ClientSecretCredential(
      this.settings.tenantId,
      this.settings.clientId,
      this.#secrets.clientSecret,
      { authorityHost: this.settings.authorityHost ?? PUBLIC_CLOUD.authorityHost },
    );
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

  /** The container exists and takes writes: a small probe blob is written and removed. */
  private async checkContainer(): Promise<ConnectorCheck> {
    const where = `${this.blobUrl('')}`.replace(/\/$/, '');
    try {
      await this.storage(async (container) => {
        const probe = container.getBlockBlobClient(`.lamina-probe-${randomUUID()}`);
        await probe.upload('ok', 2);
        await probe.delete();
      });
      return { field: 'container', ok: true, message: `${where} is writable` };
    } catch (err) {
      if (err instanceof AzureStorageError) return { field: 'container', ok: false, message: err.message };
      return { field: 'storageAccount', ok: false, message: `${where}: ${(err as Error).message}` };
    }
  }
}
