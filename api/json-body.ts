import zlib from 'node:zlib';
import express from 'express';
import { HttpProblem, type Problem } from './problem';

/** The largest JSON body the API reads (after decompression); files arrive through the uploads routes. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

/** The fields body-parser (through raw-body and http-errors) puts on the errors it passes on. */
export interface BodyParserError extends Error {
  type?: string;
  status?: number;
  code?: string;
  limit?: number;
  length?: number;
  received?: number;
  expected?: number;
  charset?: string;
  encoding?: string;
}

/** The encodings body-parser inflates (read.js' createDecompressionStream; zstd where Node has it). */
const ENCODINGS = ['identity', 'gzip', 'deflate', 'br', ...('createZstdDecompress' in zlib ? ['zstd'] : [])];

/**
 * The problem to answer for an error of the JSON body parser: each error type it can raise gets a title
 * naming it and the status it carries. The detail never echoes the body (it may hold a password): a
 * JSON syntax error keeps only its position.
 */
export function bodyProblem(err: BodyParserError, contentEncoding = 'identity'): Problem {
  switch (err.type) {
    case 'entity.too.large':
      return {
        title: 'Request body too large',
        status: 413,
        detail: `The request body${(err.length ?? err.received) ? ` is ${err.length ?? err.received} bytes,` : ''} over the limit of ${err.limit ?? JSON_BODY_LIMIT_BYTES} bytes (after decompression).`,
      };
    case 'charset.unsupported':
      return {
        title: 'Unsupported charset',
        status: 415,
        detail: `JSON bodies are read as UTF-8; charset '${err.charset}' is not supported.`,
      };
    case 'encoding.unsupported':
      return {
        title: 'Unsupported content encoding',
        status: 415,
        detail: `Content-Encoding '${err.encoding}' is not supported; use one of ${ENCODINGS.join(', ')}.`,
      };
    case 'entity.parse.failed': {
      const position = /at position (\d+)/.exec(err.message)?.[1];
      return {
        title: 'Malformed JSON',
        status: 400,
        detail: `The request body is not valid JSON${position ? ` (at byte ${position})` : ''}.`,
      };
    }
    case 'entity.verify.failed':
      return { title: 'Request body rejected', status: 403, detail: 'The request body failed verification.' };
    case 'request.aborted':
      return {
        title: 'Request aborted',
        status: 400,
        detail: 'The client closed the connection before the whole body arrived.',
      };
    case 'request.size.invalid':
      return {
        title: 'Body length mismatch',
        status: 400,
        detail: `The body has ${err.received} bytes but Content-Length announced ${err.expected}.`,
      };
    case 'stream.encoding.set':
    case 'stream.not.readable':
      // Something read the request before the parser: a fault of the server, not of the client.
      return { title: 'Request body unreadable', status: 500, detail: 'The server failed; see its log.' };
  }
  // A decompression stream failing (zlib's Z_DATA_ERROR, brotli's ERR__ERROR_FORMAT_…): raw-body passes
  // its error on untyped, with status 400.
  if (contentEncoding !== 'identity' && err.status === 400) {
    return {
      title: 'Malformed compressed body',
      status: 400,
      detail: `The request body is not valid ${contentEncoding} data.`,
    };
  }
  return { title: 'Request body unreadable', status: 500, detail: 'The server failed; see its log.' };
}

const parseJson = express.json({ limit: JSON_BODY_LIMIT_BYTES });

/**
 * express.json whose every error becomes a problem naming it (before authentication runs: a client
 * that is not signed in gets the same answer). Server faults are logged, like any unhandled error.
 */
export const jsonBody: express.RequestHandler = (req, res, next) => {
  const fail = (err: unknown) => {
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    const problem = bodyProblem(err as BodyParserError, contentEncoding);
    if (problem.status >= 500) console.error('reading a request body failed', err);
    next(new HttpProblem(problem));
  };
  try {
    parseJson(req, res, (err?: unknown) => (err === undefined ? next() : fail(err)));
  } catch (err) {
    fail(err);
  }
};
