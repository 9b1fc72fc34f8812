import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import {
  azureConnectorSettings,
  type AzureConnectorSecrets,
  type AzureConnectorSettings,
} from '../../connectors/azure/settings';
import { run } from '../../lib/processes';
import type { Azurite } from '../../runtime/azurite';
import type { ApiClient } from '../api-client';

/** Settings of a connector whose storage is the emulator's account (ARM settings name nothing real). */
export function azuriteSettings(
  azurite: Azurite,
  overrides: Partial<AzureConnectorSettings> = {},
): AzureConnectorSettings {
  return azureConnectorSettings.parse({
    tenantId: '6f1c1f5e-3b7a-4c5e-9d7f-0a1b2c3d4e5f',
    subscriptionId: '0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f',
    clientId: '1a2b3c4d-1111-4c5e-9d7f-0a1b2c3d4e5f',
    resourceGroup: 'lamina-rg',
    location: 'westeurope',
    storageAccount: azurite.accountName,
    container: 'images',
    subnetId:
      '/subscriptions/0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f/resourceGroups/lamina-rg/providers/' +
      'Microsoft.Network/virtualNetworks/vnet/subnets/default',
    blobEndpoint: azurite.blobEndpoint,
    ...overrides,
  });
}

export function azuriteConnector(
  azurite: Azurite,
  overrides: Partial<AzureConnectorSettings> = {},
  secrets: Partial<AzureConnectorSecrets> = { storageKey: azurite.accountKey },
): AzureConnector {
  return new AzureConnector(azuriteSettings(azurite, overrides), { clientSecret: 'unused-here', ...secrets });
}

/**
 * An Azure connector whose storage is the emulator's account, made through the API as an admin would
 * (refused: the test fails naming why): its id. `clientSecret` is the ARM fake's when it signs in.
 */
export async function azuriteConnectorThroughApi(
  api: ApiClient,
  azurite: Azurite,
  name: string,
  options: {
    settings?: Partial<AzureConnectorSettings>;
    clientSecret?: string;
    offloadCompositing?: boolean;
    /** No storage account key: storage is reached as the service principal (Azurite with `oauth`). */
    keyless?: boolean;
  } = {},
): Promise<string> {
  const created = await api.post('/api/connectors', {
    type: 'azure',
    name,
    settings: azuriteSettings(azurite, options.settings),
    secrets: {
      clientSecret: options.clientSecret ?? 'unused-here',
      ...(options.keyless ? {} : { storageKey: azurite.accountKey }),
    },
    ...(options.offloadCompositing ? { offloadCompositing: true } : {}),
  });
  if (created.status !== 201)
    throw new Error(`creating connector '${name}': ${created.status} ${created.text}`);
  return created.body.id as string;
}

/** The emulator's account with its key; `pipeline`: e.g. the CA of an emulator over HTTPS (storagePipeline). */
export function serviceClient(azurite: Azurite, pipeline?: StoragePipelineOptions): BlobServiceClient {
  return new BlobServiceClient(
    azurite.blobEndpoint,
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
    pipeline,
  );
}

/** A container SAS signed with the emulator's key, with the given permissions and expiry. */
export function containerSas(
  azurite: Azurite,
  container: string,
  permissions: string,
  expiresOn: Date,
): string {
  return generateBlobSASQueryParameters(
    { containerName: container, permissions: ContainerSASPermissions.parse(permissions), expiresOn },
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  ).toString();
}

/**
 * A dynamic VHDX of `sizeBytes` (not a whole number of MiB, so the VHD's rounding shows) with data at
 * its start, across a 4 MiB request boundary, a long random run, and its last sectors; zeros between.
 */
export async function makeSourceDisk(dir: string, sizeBytes = 37 * 2 ** 20 + 3 * 512): Promise<string> {
  const raw = path.join(dir, 'source.raw');
  const fd = fs.openSync(raw, 'w');
  fs.ftruncateSync(fd, sizeBytes);
  const put = (offset: number, length: number) => fs.writeSync(fd, randomBytes(length), 0, length, offset);
  put(0, 4096);
  put(4 * 2 ** 20 - 2048, 4096);
  put(16 * 2 ** 20, 12 * 2 ** 20);
  put(sizeBytes - 1536, 1536);
  fs.closeSync(fd);
  const vhdx = path.join(dir, 'source.vhdx');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, vhdx]);
  fs.rmSync(raw);
  return vhdx;
}

/** Non-zero bytes the source disk of makeSourceDisk holds (what an upload must send at least). */
export const SOURCE_DATA_BYTES = 4096 + 4096 + 12 * 2 ** 20 + 1536;

/** `qemu-img compare` of a downloaded blob (a fixed VHD, `vpc`) with the source disk. */
export function compareWithSource(blobFile: string, source: string, sourceFormat = 'vhdx'): Promise<string> {
  return run('qemu-img', ['compare', '-f', 'vpc', '-F', sourceFormat, blobFile, source]);
}
