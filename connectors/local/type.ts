import { ANY_FORMAT, connectorType } from '../connector-type';
import { LocalConnector, localConnectorSettings } from './local-connector';

/** The embedded default: packaging machines and images in a storage pool folder on the appliance. */
export const localConnectorType = connectorType({
  type: 'local',
  label: 'Local storage pool (embedded)',
  settings: localConnectorSettings,
  secretFields: [],
  defaultPackagingCacheGb: 0,
  imageFormats: ANY_FORMAT,
  maxDiskGb: 65536,
  capabilities: ['vms'],
  create: (record) => new LocalConnector(localConnectorSettings.parse(record.settings)),
});
