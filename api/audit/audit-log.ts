import type { RequestHandler } from 'express';
import type { Pool } from 'pg';
import { insertAuditEntry } from '../../db/audit-log';
import { isMutating } from '../route';

/** What a route tells the audit log about a request; routes fill it in (api/route.ts), errors add `detail`. */
export interface AuditNote {
  action: string;
  objectId?: string;
  /** Who asked when nobody is signed in yet (the user name of a sign-in attempt). */
  actor?: string;
  detail?: string;
}

/** nginx's status for a request whose client went away; the work may or may not have been done. */
const CLIENT_CLOSED_REQUEST = 499;

function outcomeOf(status: number): 'success' | 'denied' | 'failure' {
  if (status < 400) return 'success';
  return status === 401 || status === 403 ? 'denied' : 'failure';
}

/**
 * Records every mutating request once it is over: who (and with which roles), the action, the
 * object, the outcome and when. Request bodies are never recorded: they can hold secrets.
 */
export function auditMutations(pool: Pool): RequestHandler {
  return (req, res, next) => {
    if (!isMutating(req.method)) return next();
    res.locals.audit = { action: `${req.method} ${req.path}` } satisfies AuditNote;
    // 'close' comes for every request, also one whose client hung up before the answer was complete.
    res.on('close', () => {
      const note = res.locals.audit as AuditNote;
      const answered = res.writableFinished;
      insertAuditEntry(pool, {
        actor: req.caller?.name ?? note.actor ?? 'anonymous',
        roles: req.caller?.roles ?? [],
        action: note.action,
        objectId: note.objectId ?? null,
        outcome: answered ? outcomeOf(res.statusCode) : 'failure',
        status: answered ? res.statusCode : CLIENT_CLOSED_REQUEST,
        detail: answered ? (note.detail ?? null) : 'client closed the connection before the answer',
      }).catch((err: Error) => console.error(`audit log write failed for ${note.action}: ${err.message}`));
    });
    next();
  };
}
