import { z } from 'zod';
import { ANY_FIRMWARE, hostName, optionalText, requiredText, connectorType } from '../connector-type';

export const xenserverConnectorType = connectorType({
  type: 'xenserver',
  label: 'Citrix Hypervisor (XenServer)',
  settings: z.object({
    host: hostName.describe('Pool master'),
    user: requiredText,
    storageRepository: requiredText,
    network: requiredText,
    templateVm: optionalText,
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 480,
  imageFormats: { VHD: ANY_FIRMWARE },
  maxDiskGb: 2040,
  capabilities: ['vms'],
});
