import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
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
export function uploadsResource({ uploadsDir }: ApiDeps) {
  return resource('Uploads', '/api/uploads', [
    route({
      method: 'post',
      path: '/',
      operationId: 'upload',
      summary: 'Upload a file (application/octet-stream body) for a layer-as-code build; answers its id',
      access: 'layers.write',
      status: 201,
      response: z.object({ id: z.uuid(), sizeBytes: z.number().int() }),
      handle: async ({ req, auditObject }) => {
        if (req.is('json') || req.readableEnded) {
          throw new HttpProblem({
            title: 'Unsupported media type',
            status: 415,
            detail: 'Send the file itself as the body, with Content-Type: application/octet-stream.',
          });
        }
        const id = randomUUID();
        const file = uploadPath(uploadsDir, id);
        await fs.mkdir(uploadsDir, { recursive: true });
        const partial = `${file}.partial`;
        try {
          await pipeline(req, createWriteStream(partial));
          await fs.rename(partial, file);
        } finally {
          await fs.rm(partial, { force: true });
        }
        auditObject(id);
        return { id, sizeBytes: (await fs.stat(file)).size };
      },
    }),
  ]);
}
