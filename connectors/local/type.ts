import { ANY_FORMAT, type ConnectorTypeDefinition } from '../connector-type';
import { localConnectorSettings } from './local-connector';

export const localConnectorType: ConnectorTypeDefinition = {
  label: 'Local storage pool (embedded)',
  settings: localConnectorSettings,
  secretFields: [],
  defaultPackagingCacheGb: 0,
  imageFormats: ANY_FORMAT,
  maxDiskGb: 65536,
  implemented: true,
};
