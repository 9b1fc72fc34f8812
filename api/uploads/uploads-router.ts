import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { resource, route } from '../route';
import { uploadPath } from './uploads-store';

/**
 * Uploads of layer-as-code packages: the request body (a zip, a .reg file or a deletions list) is
 * streamed to disk, and tasks refer to it by id. Large data never goes through Temporal.
 */
export function uploadsResource({ uploadsDir, uploadMaxBytes }: ApiDeps) {
  const tooLarge = () =>
    new HttpProblem({
      title: 'Upload too large',
      status: 413,
      detail: `An upload may hold at most ${uploadMaxBytes / 2 ** 20} MiB (LAMINA_UPLOAD_MAX_MIB).`,
    });
  return resource('Uploads', '/api/uploads', [
    route({
      method: 'post',
      path: '/',
      operationId: 'upload',
      summary:
        'Upload a file (application/octet-stream body, not empty, at most LAMINA_UPLOAD_MAX_MIB) for a layer-as-code build; answers its id',
      access: 'layers.write',
      status: 201,
      response: z.object({ id: z.uuid(), sizeBytes: z.number().int() }),
      handle: async ({ req, res, auditObject }) => {
        if (req.is('json') || req.readableEnded) {
          throw new HttpProblem({
            title: 'Unsupported media type',
            status: 415,
            detail: 'Send the file itself as the body, with Content-Type: application/octet-stream.',
          });
        }
        // Refused without reading the body; the connection closes, so the client need not send it all.
        const refuse = (problem: HttpProblem) => {
          res.set('Connection', 'close');
          return problem;
        };
        if (Number(req.headers['content-length']) > uploadMaxBytes) throw refuse(tooLarge());
        const id = randomUUID();
        const file = uploadPath(uploadsDir, id);
        await fs.mkdir(uploadsDir, { recursive: true });
        const partial = `${file}.partial`;
        let sizeBytes = 0;
        // Bodies without a length (chunked) are counted as they arrive.
        const limit = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            sizeBytes += chunk.length;
            done(sizeBytes > uploadMaxBytes ? tooLarge() : null, chunk);
          },
        });
        try {
          await pipeline(req, limit, createWriteStream(partial)).catch((err: unknown) => {
            throw err instanceof HttpProblem ? refuse(err) : err;
          });
          if (sizeBytes === 0) {
            throw new HttpProblem({
              title: 'Empty upload',
              status: 422,
              detail: 'The request body is empty: send the file as the body.',
              errors: [{ field: 'body', message: 'must not be empty' }],
            });
          }
          await fs.rename(partial, file);
        } finally {
          await fs.rm(partial, { force: true });
        }
        auditObject(id);
        return { id, sizeBytes };
      },
    }),
  ]);
}
