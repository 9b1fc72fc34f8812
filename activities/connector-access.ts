import { ApplicationFailure } from '@temporalio/activity';
import type { Pool } from 'pg';
import { createConnector } from '../connectors';
import type { ImageStore } from '../connectors/image-store';
import type { VmHost } from '../connectors/vm-host';
import { getConnector } from '../db/connectors';

/**
 * Connectors are built inside activities from their stored configuration (ARCHITECTURE.md §7): the
 * workflow passes a connector id, never settings or credentials.
 */
export async function vmHostOf(pool: Pool, connectorId: string): Promise<VmHost> {
  const connector = await connectorOf(pool, connectorId);
  if (!connector.vms) throw notCapable(connector.type, 'virtual machines');
  return connector.vms;
}

export async function imageStoreOf(pool: Pool, connectorId: string): Promise<ImageStore> {
  const connector = await connectorOf(pool, connectorId);
  if (!connector.images) throw notCapable(connector.type, 'image files');
  return connector.images;
}

async function connectorOf(pool: Pool, connectorId: string) {
  const record = await getConnector(pool, connectorId);
  if (!record)
    throw ApplicationFailure.nonRetryable(`connector ${connectorId} does not exist`, 'ConnectorMissing');
  return createConnector(record);
}

function notCapable(type: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`a ${type} connector does not take ${what}`, 'ConnectorNotCapable');
}
