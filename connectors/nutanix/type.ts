import { z } from 'zod';
import {
  ANY_FIRMWARE,
  hostName,
  optionalText,
  requiredText,
  type ConnectorTypeDefinition,
} from '../connector-type';

export const nutanixConnectorType: ConnectorTypeDefinition = {
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
  implemented: false,
};
