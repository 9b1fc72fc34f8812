import type { ConnectorRecord } from '../db/connectors';
import type { Connector } from './connector';
import { connectorDescriptor, notInBuildMessage } from './registry';

/** The type is known and its settings are stored, but this build has no code that talks to the platform. */
export class ConnectorNotInBuildError extends Error {}

/**
 * Builds the connector for a stored configuration through its type's descriptor (connectors/registry.ts).
 * `secrets` are the opened secret fields, read by the calling activity from Postgres (never from history).
 */
export function createConnector(record: ConnectorRecord, secrets: Record<string, string> = {}): Connector {
  const descriptor = connectorDescriptor(record.type);
  if (!descriptor) {
    throw new Error(
      `connector '${record.name}' has type '${record.type}', which this build does not support`,
    );
  }
  if (!descriptor.create) throw new ConnectorNotInBuildError(notInBuildMessage(descriptor, record.name));
  return descriptor.create(record, secrets);
}
