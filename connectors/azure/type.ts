import { ANY_FIRMWARE, connectorType } from '../connector-type';
import { AzureConnector } from './azure-connector';
import { azureConnectorSecrets, azureConnectorSettings } from './settings';

/** Azure: no packaging cache (per the reference); images are fixed VHD page blobs. */
export const azureConnectorType = connectorType({
  type: 'azure',
  label: 'Microsoft Azure',
  settings: azureConnectorSettings,
  secretFields: Object.keys(azureConnectorSecrets.shape),
  imageFormats: { VHD: ANY_FIRMWARE },
  maxDiskGb: 4095,
  capabilities: ['upload'],
  create: (record, secrets) =>
    new AzureConnector(azureConnectorSettings.parse(record.settings), azureConnectorSecrets.parse(secrets)),
});
