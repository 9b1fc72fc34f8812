import type { DiagnosticsDeps } from './diagnostics';
import { createDiagnosticsActivities } from './diagnostics';

export type ActivityDeps = DiagnosticsDeps;

/** All activities of the appliance worker, bound to their dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDiagnosticsActivities(deps),
  };
}
