import type { AzureConnectorSettings } from '../../connectors/azure/settings';
import type { Azurite } from '../../runtime/azurite';
import { ArmFake } from './arm-fake';
import { serviceClient } from './fixtures';

/** The service principal's secret the fake's Entra ID accepts. */
export const ARM_SECRET = 'fake-service-principal-secret';

/**
 * The ARM fake for the identities and places azuriteSettings names (tenant, subscription, lamina-rg in
 * westeurope, its vnet's default subnet), reading the blobs Azure would import from Azurite.
 */
export function armFakeFor(azurite: Azurite): Promise<ArmFake> {
  const subscriptionId = '0e2d8e44-1111-4c5e-9d7f-0a1b2c3d4e5f';
  return ArmFake.start({
    tenantId: '6f1c1f5e-3b7a-4c5e-9d7f-0a1b2c3d4e5f',
    clientId: '1a2b3c4d-1111-4c5e-9d7f-0a1b2c3d4e5f',
    clientSecret: ARM_SECRET,
    subscriptionId,
    resourceGroups: { 'lamina-rg': 'westeurope' },
    locations: {
      westeurope: ['Standard_B2s', 'Standard_D2s_v5', 'Standard_D4s_v5'],
      northeurope: ['Standard_B2s'],
    },
    subnets: [
      `/subscriptions/${subscriptionId}/resourceGroups/lamina-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`,
    ],
    blobSize: async (url) => {
      const [, container, ...blob] = new URL(url).pathname.split('/').filter(Boolean);
      const client = serviceClient(azurite).getContainerClient(container).getBlobClient(blob.join('/'));
      return (await client.exists()) ? (await client.getProperties()).contentLength : undefined;
    },
  });
}

/** Settings that send sign-in and Resource Manager to the fake, trusting its certificate. */
export function armSettings(arm: ArmFake): Partial<AzureConnectorSettings> {
  return { authorityHost: arm.url, armEndpoint: arm.url, caCertificate: arm.certificate };
}
