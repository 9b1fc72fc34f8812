import { z } from 'zod';
import {
  ANY_FIRMWARE,
  hostName,
  optionalText,
  requiredText,
  type ConnectorTypeDefinition,
} from '../connector-type';

export const vsphereConnectorType: ConnectorTypeDefinition = {
  label: 'VMware vSphere',
  settings: z.object({
    vcenter: hostName.describe('vCenter Server host name'),
    user: requiredText.describe('vCenter user, e.g. administrator@vsphere.local'),
    datacenter: requiredText,
    host: requiredText.describe('ESXi host or cluster the machines run on'),
    datastore: requiredText,
    network: requiredText,
    vmFolder: optionalText.describe('VM folder for packaging machines and published images'),
    templateVm: optionalText.describe('Virtual machine template whose hardware settings new machines copy'),
  }),
  secretFields: ['password'],
  defaultPackagingCacheGb: 250,
  imageFormats: { VMDK: ANY_FIRMWARE },
  maxDiskGb: 62 * 1024,
  implemented: false,
};
