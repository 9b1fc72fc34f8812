import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { Request } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { HttpProblem } from '../problem';
import { resource, route } from '../route';
import { uploadPath } from './uploads-store';

/**
 * Streams a request body into `file` and answers its size; past `maxBytes` it stops reading and answers
 * that much. The request is paused, not destroyed, so the refusal still reaches the client.
 */
function receive(req: Request, file: string, maxBytes: number): Promise<number> {
  const out = createWriteStream(file);
  let size = 0;
  const received = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        resolve(size);
      } else if (!out.write(chunk)) {
        req.pause();
        out.once('drain', () => size <= maxBytes && req.resume());
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(size));
    req.once('close', () => req.complete || reject(new Error('the client closed the upload before its end')));
    out.once('error', reject);
  });
  return received.finally(() => new Promise((closed) => out.end(closed)));
}

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
        // A refused upload is not read to its end: the answer closes the connection, so the client stops sending.
        const refuse = (problem: HttpProblem) => {
          res.set('Connection', 'close');
          return problem;
        };
        if (Number(req.headers['content-length']) > uploadMaxBytes) throw refuse(tooLarge());
        const id = randomUUID();
        const file = uploadPath(uploadsDir, id);
        await fs.mkdir(uploadsDir, { recursive: true });
        const partial = `${file}.partial`;
        let sizeBytes: number;
        try {
          sizeBytes = await receive(req, partial, uploadMaxBytes);
          if (sizeBytes > uploadMaxBytes) throw refuse(tooLarge());
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
