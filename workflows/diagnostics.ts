import { proxyActivities } from '@temporalio/workflow';
import type { DiagnosticCheck, DiagnosticsActivities } from '../activities/diagnostics';

export interface DiagnosticsReport {
  ok: boolean;
  checks: DiagnosticCheck[];
}

const quick = proxyActivities<DiagnosticsActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

const probing = proxyActivities<Pick<DiagnosticsActivities, 'checkRepository'>>({
  startToCloseTimeout: '10 minutes',
  // A worker that dies mid-probe is noticed within this window and the probe reruns on another worker.
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 5 },
});

/**
 * The diagnostics task (App Layering has one): checks the database, the layer repository, the native
 * toolchain and every configured connector, and reports each finding. A failed check does not fail
 * the task; the report says what is wrong.
 */
export async function diagnostics(): Promise<DiagnosticsReport> {
  const [database, repository, toolchain] = await Promise.all([
    quick.checkDatabase(),
    probing.checkRepository(),
    quick.checkToolchain(),
  ]);
  const connectorIds = await quick.listConnectorIds();
  const connectors = await Promise.all(connectorIds.map((id) => quick.checkConnector(id)));
  const checks = [database, repository, toolchain, ...connectors];
  return { ok: checks.every((c) => c.ok), checks };
}
