import { z } from 'zod';
import { ANY_FIRMWARE, requiredText, connectorType } from '../connector-type';

/** Azure: no packaging cache (per the reference); images are fixed VHD page blobs. */
export const azureConnectorType = connectorType({
  type: 'azure',
  label: 'Microsoft Azure',
  settings: z.object({
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
  }),
  secretFields: ['clientSecret'],
  imageFormats: { VHD: ANY_FIRMWARE },
  maxDiskGb: 4095,
  capabilities: ['vms', 'images'],
});
