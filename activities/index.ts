import { createConnectorTestActivities, type ConnectorTestDeps } from './connector-test';
import { createDiagnosticsActivities, type DiagnosticsDeps } from './diagnostics';

export type ActivityDeps = DiagnosticsDeps & ConnectorTestDeps;

/** All activities of the appliance worker, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDiagnosticsActivities(deps),
    ...createConnectorTestActivities(deps),
  };
}
