import { z } from 'zod';
import { ANY_FIRMWARE, hostName, port, requiredText, connectorType } from '../connector-type';

/** Hyper-V through the Lamina agent; Generation 2 (UEFI) machines boot from VHDX only. */
export const hypervConnectorType = connectorType({
  type: 'hyperv',
  label: 'Microsoft Hyper-V',
  settings: z.object({
    host: hostName.describe('Hyper-V host running the Lamina agent'),
    agentPort: port.default(8016),
    user: requiredText.describe('Domain account, DOMAIN\\user'),
    storagePath: requiredText.describe('Folder on the host for machines and disks, e.g. D:\\Lamina'),
    virtualSwitch: requiredText,
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 200,
  imageFormats: { VHD: ['BIOS'], VHDX: ANY_FIRMWARE },
  maxDiskGb: 64 * 1024,
  capabilities: ['vms'],
});
