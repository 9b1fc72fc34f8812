import type { Connector, ConnectorRecord } from './connector';
import { FileshareConnector, fileshareConnectorSettings } from './fileshare/fileshare-connector';
import { LocalConnector, localConnectorSettings } from './local/local-connector';

/** Builds the connector for a stored configuration; settings are re-validated so a bad row fails clearly. */
export function createConnector(record: ConnectorRecord): Connector {
  switch (record.type) {
    case 'local':
      return new LocalConnector(localConnectorSettings.parse(record.settings));
    case 'fileshare':
      return new FileshareConnector(fileshareConnectorSettings.parse(record.settings));
    default:
      throw new Error(
        `connector '${record.name}' has type '${record.type}', which this build does not support`,
      );
  }
}
