import { proxyActivities } from '@temporalio/workflow';
import type { ConnectorTestActivities, ConnectorTestReport } from '../activities/connector-test';

const { runConnectorTest } = proxyActivities<ConnectorTestActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

/**
 * The "Test" button of a connector configuration. Only the connector id travels through history; the
 * activity reads settings and secrets itself. A wrong setting is a result (the task completes and says
 * which field), not a failure.
 */
export async function testConnector(connectorId: string): Promise<ConnectorTestReport> {
  return runConnectorTest(connectorId);
}
