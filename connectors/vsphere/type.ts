import { ANY_FIRMWARE, type ConnectorTypeDefinition } from '../connector-type';
import { vsphereConnectorSecrets, vsphereConnectorSettings } from './settings';

export const vsphereConnectorType: ConnectorTypeDefinition = {
  label: 'VMware vSphere',
  settings: vsphereConnectorSettings,
  secretFields: Object.keys(vsphereConnectorSecrets.shape),
  defaultPackagingCacheGb: 250,
  imageFormats: { VMDK: ANY_FIRMWARE },
  maxDiskGb: 62 * 1024,
  implemented: true,
};
