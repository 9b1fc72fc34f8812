import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import type { Connector } from '../connectors/connector';
import type { ImageStore } from '../connectors/image-store';
import type { VmHost } from '../connectors/vm-host';
import { getConnector, getConnectorSecrets } from '../db/connectors';
import type { SecretBox } from '../config/secret-box';

export interface ConnectorAccessDeps {
  pool: Pool;
  /** Opens the connector's stored secrets (a vCenter password) inside the activity that uses them. */
  secrets: SecretBox;
}

/**
 * Connectors are built inside activities from their stored configuration (ARCHITECTURE.md §7): the
 * workflow passes a connector id, never settings or credentials. The connector lives for one use and
 * is closed after it, so a session with the platform (a vCenter login) never outlives its activity
 * and settings edited in between are picked up.
 */
export async function withConnector<T>(
  deps: ConnectorAccessDeps,
  connectorId: string,
  use: (connector: Connector) => Promise<T>,
): Promise<T> {
  const record = await getConnector(deps.pool, connectorId);
  if (!record)
    throw ApplicationFailure.nonRetryable(`connector ${connectorId} does not exist`, 'ConnectorMissing');
  const connector = createConnector(record, await getConnectorSecrets(deps.pool, deps.secrets, connectorId));
  try {
    return await use(connector);
  } finally {
    await connector.close?.();
  }
}

export function withVmHost<T>(
  deps: ConnectorAccessDeps,
  connectorId: string,
  use: (host: VmHost) => Promise<T>,
): Promise<T> {
  return withConnector(deps, connectorId, async (connector) => {
    if (!connector.vms) throw notCapable(connector.type, 'virtual machines');
    return use(connector.vms);
  });
}

export function withImageStore<T>(
  deps: ConnectorAccessDeps,
  connectorId: string,
  use: (store: ImageStore) => Promise<T>,
): Promise<T> {
  return withConnector(deps, connectorId, (connector) => {
    if (!connector.images) throw notCapable(connector.type, 'image files');
    return use(connector.images);
  });
}

function notCapable(type: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`a ${type} connector does not take ${what}`, 'ConnectorNotCapable');
}
