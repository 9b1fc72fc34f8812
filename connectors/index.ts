import type { ConnectorRecord } from '../db/connectors';
import type { Connector } from './connector';
import { FileshareConnector, fileshareConnectorSettings } from './fileshare/fileshare-connector';
import { LocalConnector, localConnectorSettings } from './local/local-connector';
import { CONNECTOR_TYPES } from './types';
import { vsphereConnectorSecrets, vsphereConnectorSettings } from './vsphere/settings';
import { VsphereConnector } from './vsphere/vsphere-connector';

/** The type is known and its settings are stored, but this build has no code that talks to the platform. */
export class ConnectorNotInBuildError extends Error {}

/**
 * Builds the connector for a stored configuration; settings are re-validated so a bad row fails clearly.
 * `secrets` are the opened secret fields, read by the calling activity from Postgres (never from history).
 */
export function createConnector(record: ConnectorRecord, secrets: Record<string, string> = {}): Connector {
  switch (record.type) {
    case 'local':
      return new LocalConnector(localConnectorSettings.parse(record.settings));
    case 'fileshare':
      return new FileshareConnector(fileshareConnectorSettings.parse(record.settings));
    case 'vsphere':
      return new VsphereConnector(
        vsphereConnectorSettings.parse(record.settings),
        vsphereConnectorSecrets.parse(secrets),
        { packagingCacheGb: record.packagingCacheGb },
      );
    default: {
      const known = CONNECTOR_TYPES[record.type as keyof typeof CONNECTOR_TYPES];
      if (known) {
        throw new ConnectorNotInBuildError(
          `the ${known.label} connector is not implemented in this build: connector '${record.name}' is stored ` +
            `and its settings are validated, but nothing can be checked against ${known.label} yet`,
        );
      }
      throw new Error(
        `connector '${record.name}' has type '${record.type}', which this build does not support`,
      );
    }
  }
}
