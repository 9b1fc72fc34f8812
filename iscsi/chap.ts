import { createHmac } from 'node:crypto';

/** A CHAP name and secret, as an initiator presents them (or, for mutual CHAP, the target). */
export interface ChapCredentials {
  user: string;
  secret: string;
}

/**
 * A task's CHAP credentials, derived from the appliance's key and the target's name instead of drawn
 * at random: every appliance process holding the key (the worker that creates the target, the API that
 * hands them to the task's Compositing Engine) computes the same ones, so the secret is never stored
 * and never travels through Temporal history. The name is the task's id, so each task gets its own
 * secret, and it is worthless once the task's target is removed. `role` 'target' is the target's own
 * credential for mutual CHAP.
 *
 * 16 characters of base64url (96 bits): the length Microsoft's initiator accepts (12-16), and well
 * inside tgtd's limits.
 */
export function deriveChapCredentials(
  key: Buffer,
  name: string,
  role: 'initiator' | 'target',
): ChapCredentials {
  const secret = createHmac('sha256', key)
    .update(`lamina iscsi chap\0${role}\0${name}`)
    .digest()
    .subarray(0, 12)
    .toString('base64url');
  return { user: role === 'initiator' ? `lamina-${name}` : `lamina-target-${name}`, secret };
}

/**
 * Checks credentials given by hand (`lamina iscsi serve --chap-user --chap-secret`). tgtd takes them in
 * a comma-separated parameter string (`user=…,password=…`) and initiators as part of an iscsi:// URL
 * (`user%secret@host`), so both keep to characters neither reads specially; RFC 7143 asks for secrets of at least 12 bytes (96 bits).
 */
export function checkChapCredentials(credentials: ChapCredentials): void {
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(credentials.user))
    throw new ChapCredentialsError('CHAP user must be 1-255 letters, digits or . _ -');
  if (!/^[A-Za-z0-9._~+=-]{12,255}$/.test(credentials.secret))
    throw new ChapCredentialsError(
      'CHAP secret must be 12-255 characters, each a letter, a digit or one of . _ ~ + = - (RFC 7143 asks for 12 bytes at least)',
    );
}

export class ChapCredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChapCredentialsError';
  }
}
