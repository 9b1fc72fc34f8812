import type { TokenCredential } from '@azure/identity';
import {
  AnonymousCredential,
  ContainerClient,
  isRestError,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { trustedCertificates } from './resource-manager';
import { blobEndpointOf, type AzureConnectorSecrets, type AzureConnectorSettings } from './settings';

/**
 * A storage request the account refuses for a reason retrying cannot heal: a credential that is
 * expired or lacks a permission, a container that does not exist. Listed in activities/failure-table.ts.
 */
export class AzureStorageError extends Error {
  override name = 'AzureStorageError';
  constructor(
    message: string,
    /** What to correct: the container setting, or the storage credential (SAS, key or service principal). */
    readonly problem: 'container' | 'credential',
  ) {
    super(message);
  }
}

/** The SDK's own retries ride out a dropped connection or a 503; the activity's retries take over after. */
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 4_000, tryTimeoutInMs: 120_000 },
};

/**
 * The storage pipeline's options for the connector: its retries, and its CA (`caCertificate`) trusted
 * besides the public ones, as for Resource Manager (a storage endpoint of Azure Stack Hub, the emulator
 * over HTTPS). `tlsOptions` is the core pipeline's option, which the storage client passes on.
 */
export function storagePipeline(
  settings: Pick<AzureConnectorSettings, 'caCertificate'>,
): StoragePipelineOptions {
  const tlsOptions = trustedCertificates(settings);
  return tlsOptions ? ({ ...PIPELINE, tlsOptions } as StoragePipelineOptions) : PIPELINE;
}

/** How the connector reaches its container: a SAS, the account key, or the service principal. */
export function containerClient(
  settings: AzureConnectorSettings,
  secrets: AzureConnectorSecrets,
  servicePrincipal: () => TokenCredential,
): ContainerClient {
  const url = `${blobEndpointOf(settings)}/${settings.container}`;
  const pipeline = storagePipeline(settings);
  if (secrets.storageSas) {
    assertSasUsable(secrets.storageSas, settings);
    const sas = secrets.storageSas.replace(/^\?/, '');
    return new ContainerClient(`${url}?${sas}`, new AnonymousCredential(), pipeline);
  }
  if (secrets.storageKey) {
    const key = new StorageSharedKeyCredential(settings.storageAccount, secrets.storageKey);
    return new ContainerClient(url, key, pipeline);
  }
  return new ContainerClient(url, servicePrincipal(), pipeline);
}

/**
 * A SAS carries its expiry and permissions in the clear (`se`, `sp`): checked before any request, so an
 * expired or read-only token is named as such instead of as the service's generic 403.
 */
function assertSasUsable(sas: string, settings: AzureConnectorSettings): void {
  const params = new URLSearchParams(sas.replace(/^\?/, ''));
  const expiry = params.get('se');
  if (expiry && Date.parse(expiry) <= Date.now()) {
    throw new AzureStorageError(
      `the storage SAS token expired at ${expiry}: give the connector a new one for container '${settings.container}'`,
      'credential',
    );
  }
  const permissions = params.get('sp');
  const missing = [...'rcwdl'].filter((p) => permissions !== null && !permissions.includes(p));
  if (missing.length > 0) {
    throw new AzureStorageError(
      `the storage SAS token lacks permission${missing.length > 1 ? 's' : ''} '${missing.join('')}' ` +
        `(it has sp=${permissions}); image uploads need read, create, write, delete and list (sp=rcwdl)`,
      'credential',
    );
  }
}

/** Names what the storage service refused in terms of the connector's settings; other errors pass unchanged. */
export function storageFailure(err: unknown, settings: AzureConnectorSettings): unknown {
  if (!isRestError(err)) return err;
  const code = err.code ?? '';
  const where = `container '${settings.container}' of storage account '${settings.storageAccount}'`;
  if (err.statusCode === 404 && code === 'ContainerNotFound') {
    return new AzureStorageError(
      `${where} does not exist: create it or correct the connector's container`,
      'container',
    );
  }
  if (err.statusCode === 403) {
    if (code.startsWith('AuthorizationPermissionMismatch') || code === 'AuthorizationFailure') {
      return new AzureStorageError(
        `the storage credential may not write to ${where} (${code})`,
        'credential',
      );
    }
    return new AzureStorageError(
      `the storage account refused the connector's credential for ${where} (${code || '403'}): ` +
        `${firstLine(err.message)}`,
      'credential',
    );
  }
  return err;
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
