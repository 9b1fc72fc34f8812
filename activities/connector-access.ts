import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import type { Connector } from '../connectors/connector';
import type { ImageStore } from '../connectors/image-store';
import type { VmHost } from '../connectors/vm-host';
import { getConnector, getConnectorSecrets } from '../db/connectors';
import type { SecretBox } from '../db/secret-box';

export interface ConnectorAccessDeps {
  pool: Pool;
  secrets: SecretBox;
}

/**
 * Connectors are built inside activities from their stored configuration and opened secrets
 * (ARCHITECTURE.md §7): the workflow passes a connector id, never settings or credentials.
 */
export async function connectorOf(deps: ConnectorAccessDeps, connectorId: string): Promise<Connector> {
  const record = await getConnector(deps.pool, connectorId);
  if (!record)
    throw ApplicationFailure.nonRetryable(`connector ${connectorId} does not exist`, 'ConnectorMissing');
  return createConnector(record, await getConnectorSecrets(deps.pool, deps.secrets, connectorId));
}

export async function vmHostOf(deps: ConnectorAccessDeps, connectorId: string): Promise<VmHost> {
  const connector = await connectorOf(deps, connectorId);
  if (!connector.vms) throw notCapable(connector.type, 'virtual machines');
  return connector.vms;
}

export async function imageStoreOf(deps: ConnectorAccessDeps, connectorId: string): Promise<ImageStore> {
  const connector = await connectorOf(deps, connectorId);
  if (!connector.images) throw notCapable(connector.type, 'image files');
  return connector.images;
}

function notCapable(type: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`a ${type} connector does not take ${what}`, 'ConnectorNotCapable');
}
