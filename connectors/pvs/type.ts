import { z } from 'zod';
import { ANY_FIRMWARE, hostName, port, requiredText, uncPath, connectorType } from '../connector-type';

/**
 * Citrix Provisioning: images go into a vDisk store through the Lamina agent on the PVS server. It does
 * not take Image Portability tasks (reference/image-portability.txt): the IPS routes refuse it, naming
 * the way that works — publish for PVS through a Windows File Share connector on the store's path.
 */
export const pvsConnectorType = connectorType({
  type: 'pvs',
  label: 'Citrix Provisioning',
  settings: z.object({
    server: hostName.describe('Provisioning server running the Lamina agent'),
    agentPort: port.default(8016),
    user: requiredText.describe('Domain account, DOMAIN\\user'),
    site: requiredText,
    store: requiredText,
    storePath: uncPath.describe('Path of the store as the PVS server sees it'),
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 0,
  imageFormats: { VHD: ANY_FIRMWARE, VHDX: ANY_FIRMWARE },
  maxDiskGb: 2040,
  capabilities: ['images'],
});
