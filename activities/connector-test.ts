import type { Pool } from 'pg';
import type { ConnectorCheck } from '../connectors/connector';
import { ConnectorNotInBuildError, createConnector } from '../connectors';
import { getConnector, getConnectorSecrets } from '../db/connectors';
import type { SecretBox } from '../config/secret-box';

export interface ConnectorTestDeps {
  pool: Pool;
  secrets: SecretBox;
}

export interface ConnectorTestReport {
  connectorId: string;
  name?: string;
  type?: string;
  ok: boolean;
  /** One line per setting checked; `field` names the setting to fix. */
  checks: ConnectorCheck[];
}

/**
 * The connector test runs here, not in the API: the activity reads the configuration and opens its
 * secrets from Postgres by id, so credentials never enter workflow arguments or history.
 */
export function createConnectorTestActivities(deps: ConnectorTestDeps) {
  return {
    async runConnectorTest(connectorId: string): Promise<ConnectorTestReport> {
      const record = await getConnector(deps.pool, connectorId);
      if (!record) {
        return {
          connectorId,
          ok: false,
          checks: [{ ok: false, message: 'the connector configuration no longer exists' }],
        };
      }
      const report = { connectorId, name: record.name, type: record.type };
      try {
        const connector = createConnector(
          record,
          await getConnectorSecrets(deps.pool, deps.secrets, connectorId),
        );
        const checks = await connector.test();
        return { ...report, ok: checks.every((c) => c.ok), checks };
      } catch (err) {
        if (err instanceof ConnectorNotInBuildError) {
          return { ...report, ok: false, checks: [{ ok: false, message: err.message }] };
        }
        // zod re-validation of a stored row: name the fields, as the API would have.
        const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
        if (issues) {
          return {
            ...report,
            ok: false,
            checks: issues.map((i) => ({ field: i.path.join('.'), ok: false, message: i.message })),
          };
        }
        throw err;
      }
    },
  };
}

export type ConnectorTestActivities = ReturnType<typeof createConnectorTestActivities>;
