import { z } from 'zod';
import { requiredText } from '../connector-type';

const httpsUrl = z.url({ protocol: /^https?$/ }).describe('Base URL; the public Azure cloud when unset');

/** What an Azure connector configuration stores (ARCHITECTURE.md §7); secrets are apart, sealed. */
export const azureConnectorSettings = z.object({
  tenantId: z.uuid(),
  subscriptionId: z.uuid(),
  clientId: z.uuid().describe('App registration (service principal) the appliance signs in as'),
  resourceGroup: requiredText,
  location: z.string().regex(/^[a-z0-9]+$/, 'must be an Azure region name, e.g. westeurope'),
  storageAccount: z
    .string()
    .regex(/^[a-z0-9]{3,24}$/, 'must be a storage account name (3-24 lowercase letters/digits)'),
  container: z.string().regex(/^[a-z0-9](-?[a-z0-9]){2,62}$/, 'must be a blob container name'),
  subnetId: requiredText.describe('Resource id of the subnet machines attach to'),
  vmSize: requiredText.default('Standard_D2s_v5'),
  /**
   * Offload Compositing: the image Compositing Engine VMs are made from (a managed image or a gallery
   * image version), a Linux VM whose boot unit runs `lamina ce` with the environment its custom data
   * carries. Image Portability prepares in such an engine when the connector's Offload Compositing is on.
   */
  ceImageId: requiredText
    .optional()
    .describe(
      'Resource id of the Compositing Engine image (Offload Compositing); none: engines cannot be made',
    ),
  /** Sovereign clouds, Azure Stack Hub, or the storage emulator: where the Blob service answers. */
  blobEndpoint: httpsUrl
    .optional()
    .describe('Blob service URL; https://<storageAccount>.blob.core.windows.net when unset'),
  armEndpoint: httpsUrl.optional().describe('Resource Manager URL; https://management.azure.com when unset'),
  authorityHost: httpsUrl
    .optional()
    .describe('Entra ID sign-in URL; https://login.microsoftonline.com when unset'),
  /**
   * Azure Stack Hub and private endpoints present certificates of the organisation's own CA. The
   * connector's Compositing Engines trust it too (their launch environment carries it,
   * LAMINA_CE_CA_CERTIFICATE): they reach the storage endpoint themselves.
   */
  caCertificate: z
    .string()
    .regex(/-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate')
    .optional()
    .describe(
      'PEM certificate(s) of a CA trusted besides the public ones, for sign-in, Resource Manager and ' +
        "storage, by the appliance and the connector's Compositing Engines",
    ),
});
export type AzureConnectorSettings = z.infer<typeof azureConnectorSettings>;

/**
 * The sealed fields. The service principal's secret signs in to Resource Manager; storage is reached
 * with a SAS token (container-scoped, needs read, create, write, delete, list) or the account key when
 * one is given, else with the service principal too (it then needs Storage Blob Data Contributor). A
 * Compositing Engine's blob tokens are signed with the account key, else with a user delegation key the
 * service principal gets (Storage Blob Delegator or Data Contributor).
 */
export const azureConnectorSecrets = z.object({
  clientSecret: z.string().min(1, 'is required'),
  storageSas: z.string().min(1).optional(),
  storageKey: z.string().min(1).optional(),
});
export type AzureConnectorSecrets = z.infer<typeof azureConnectorSecrets>;

export const PUBLIC_CLOUD = {
  armEndpoint: 'https://management.azure.com',
  authorityHost: 'https://login.microsoftonline.com',
};

export function blobEndpointOf(settings: AzureConnectorSettings): string {
  return (settings.blobEndpoint ?? `https://${settings.storageAccount}.blob.core.windows.net`).replace(
    /\/$/,
    '',
  );
}
