import type { Payload, PayloadCodec } from '@temporalio/common';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { PayloadDecryptionError } from '../../config/payload-codec';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { resource, route } from '../route';

/** Where the Temporal Web UI is pointed (`--ui-codec-endpoint`); it posts to `<endpoint>/decode` and `/encode`. */
export const CODEC_BASE_PATH = '/api/temporal-codec';

/**
 * The codec endpoint as the embedded Web UI (listening on 127.0.0.1) reaches it from the admin's browser;
 * undefined while the API's port is picked at start (tests run the UI headless).
 */
export function codecEndpointUrl(api: { host: string; port: number }): string | undefined {
  if (api.port === 0) return undefined;
  const host = ['0.0.0.0', '::'].includes(api.host) ? '127.0.0.1' : api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${api.port}${CODEC_BASE_PATH}`;
}

// Protobuf JSON readers take the URL-safe alphabet too; Buffer decodes both.
const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
/** A Temporal payload in protobuf JSON form: metadata values and data in base64. */
const jsonPayload = z.object({
  metadata: z.record(z.string(), base64).default({}),
  data: base64.default(''),
});
/** Temporal's remote codec protocol: the same shape in and out. */
const payloadsBody = z.object({ payloads: z.array(jsonPayload).max(1000) });
type JsonPayload = z.output<typeof jsonPayload>;

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata).map(([key, value]) => [key, Buffer.from(value, 'base64')]),
    ),
    data: Buffer.from(payload.data, 'base64'),
  };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value).toString('base64'),
      ]),
    ),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

async function run(
  codec: PayloadCodec,
  direction: 'encode' | 'decode',
  payloads: JsonPayload[],
): Promise<{ payloads: JsonPayload[] }> {
  try {
    return { payloads: (await codec[direction](payloads.map(fromJson))).map(toJson) };
  } catch (err) {
    if (!(err instanceof PayloadDecryptionError)) throw err;
    throw new HttpProblem({ title: 'Payload cannot be decoded', status: 422, detail: err.message });
  }
}

/**
 * The codec endpoint of the Temporal Web UI: it shows history payloads (encrypted by
 * config/payload-codec.ts) in clear text to a caller with `tasks.decode`, an Administrator. The UI
 * sends `X-Namespace`; Lamina's codec is the same for every namespace, so it only needs to be allowed.
 */
export function temporalCodecResource({ payloadCodec }: Pick<ApiDeps, 'payloadCodec'>) {
  return resource('Temporal codec', CODEC_BASE_PATH, [
    route({
      method: 'post',
      path: '/decode',
      operationId: 'decodeTemporalPayloads',
      summary:
        "Decrypt Temporal payloads for the Web UI (Temporal's remote codec protocol); unencrypted payloads come back as they are; an altered one is a 422",
      access: 'tasks.decode',
      body: payloadsBody,
      response: payloadsBody,
      handle: ({ body }) => run(payloadCodec, 'decode', body.payloads),
    }),
    route({
      method: 'post',
      path: '/encode',
      operationId: 'encodeTemporalPayloads',
      summary:
        "Encrypt payloads the Web UI sends to a workflow (a signal's input) as Lamina's workers expect them",
      access: 'tasks.decode',
      body: payloadsBody,
      response: payloadsBody,
      handle: ({ body }) => run(payloadCodec, 'encode', body.payloads),
    }),
  ]);
}

/**
 * CORS for the Temporal Web UI, which calls the codec endpoint from its own origin with the admin's
 * session cookie ("Include cross-origin credentials" in its codec settings). Only the configured UI
 * origins get the headers, and only on this path is their cookie honoured (api/auth/authenticate.ts
 * refuses a cookie sent cross-origin everywhere else).
 */
export function temporalCodecCors(origins: readonly string[]): RequestHandler {
  return (req, res, next) => {
    const origin = req.get('origin');
    if (!origin || !origins.includes(origin)) return next();
    req.crossOriginAllowed = true;
    res.set({
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      Vary: 'Origin',
    });
    if (req.method !== 'OPTIONS') return next();
    res
      .set({
        'Access-Control-Allow-Methods': 'POST',
        'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
        'Access-Control-Max-Age': '600',
      })
      .status(204)
      .end();
  };
}
