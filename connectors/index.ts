import type { Connector, ConnectorRecord } from './connector';
import { LocalConnector, localConnectorSettings } from './local/local-connector';
import { vsphereConnectorSettings } from './vsphere/settings';
import { VsphereConnector } from './vsphere/vsphere-connector';

/** Builds the connector for a stored configuration; settings are re-validated so a bad row fails clearly. */
export function createConnector(record: ConnectorRecord): Connector {
  switch (record.type) {
    case 'local':
      return new LocalConnector(localConnectorSettings.parse(record.settings));
    case 'vsphere':
      return new VsphereConnector(vsphereConnectorSettings.parse(record.settings));
    default:
      throw new Error(
        `connector '${record.name}' has type '${record.type}', which this build does not support`,
      );
  }
}
