import { resourceCommand } from '../resource-command';

interface AuditView {
  id: string;
  at: string;
  actor: string;
  action: string;
  objectId: string | null;
  outcome: string;
  status: number;
  detail: string | null;
}

/** `lamina audit`: the console's audit log, newest first (Administrators). */
export const auditCommand = resourceCommand<AuditView>({
  command: 'audit',
  noun: 'audit entry',
  path: '/api/audit',
  filters: {
    actor: 'actor',
    action: 'action',
    object: 'objectId',
    outcome: 'outcome',
    since: 'since',
    until: 'until',
  },
  line: (e) =>
    `${e.at}  ${e.actor}  ${e.action}${e.objectId ? ` ${e.objectId}` : ''}  ${e.outcome} ${e.status}${e.detail ? `  ${e.detail}` : ''}`,
  about: `Every change anyone made or tried on the appliance, newest first (the last 200 that match):
--actor NAME, --action OPERATION-ID (createConnector, publishTemplate…), --object ID, --outcome
success|failure|denied, --since/--until ISO-8601 times.`,
});
