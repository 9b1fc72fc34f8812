import { ANY_FIRMWARE, connectorType } from '../connector-type';
import { vsphereConnectorSecrets, vsphereConnectorSettings } from './settings';
import { VsphereConnector } from './vsphere-connector';

export const vsphereConnectorType = connectorType({
  type: 'vsphere',
  label: 'VMware vSphere',
  settings: vsphereConnectorSettings,
  secretFields: Object.keys(vsphereConnectorSecrets.shape),
  defaultPackagingCacheGb: 250,
  imageFormats: { VMDK: ANY_FIRMWARE },
  maxDiskGb: 62 * 1024,
  capabilities: ['vms'],
  create: (record, secrets) =>
    new VsphereConnector(
      vsphereConnectorSettings.parse(record.settings),
      vsphereConnectorSecrets.parse(secrets),
      { packagingCacheGb: record.packagingCacheGb },
    ),
});
