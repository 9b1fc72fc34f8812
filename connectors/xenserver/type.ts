import { z } from 'zod';
import {
  ANY_FIRMWARE,
  hostName,
  optionalText,
  requiredText,
  type ConnectorTypeDefinition,
} from '../connector-type';

export const xenserverConnectorType: ConnectorTypeDefinition = {
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
  implemented: false,
};
