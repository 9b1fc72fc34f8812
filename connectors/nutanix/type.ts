import { z } from 'zod';
import { ANY_FIRMWARE, hostName, optionalText, requiredText, connectorType } from '../connector-type';

export const nutanixConnectorType = connectorType({
  type: 'nutanix',
  label: 'Nutanix AHV',
  settings: z.object({
    prism: hostName.describe('Prism Element or Prism Central address'),
    user: requiredText,
    cluster: requiredText,
    storageContainer: requiredText,
    network: requiredText,
    templateVm: optionalText,
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 480,
  imageFormats: { VMDK: ANY_FIRMWARE, VHD: ANY_FIRMWARE },
  maxDiskGb: 62 * 1024,
  capabilities: ['vms'],
});
