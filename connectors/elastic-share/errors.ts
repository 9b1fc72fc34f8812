/**
 * An elastic layer share that cannot be used as configured: no such share, or not mounted where the
 * setting says. Retrying does not mount it; the message names the share and what to fix.
 */
export class ElasticShareError extends Error {}
