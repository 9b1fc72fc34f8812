import { z } from 'zod';
import { listPage, pageQuery } from '../../db/list-page';
import { publishedImageList } from '../../db/published-images';
import type { ApiDeps } from '../deps';
import { findOr404 } from '../lookup';
import { resource, route } from '../route';
import { nullableId, pageOf, timestamp } from '../responses';
import { idParams } from '../validation';

const image = z.object({
  id: z.uuid(),
  name: z.string().describe('Template name + publish time'),
  templateId: nullableId.describe('null once the template is deleted; `template` keeps its snapshot'),
  template: z.unknown().describe('The template as it was when the image was published'),
  layerVersions: z.unknown(),
  outputLocation: z.string(),
  sha256: z.string().nullable(),
  conflictReport: z
    .unknown()
    .describe('Files and registry values more than one layer provides, and the winner'),
  publishedAt: timestamp,
});

/** Published images: records written by the publish task; read-only here. */
export function imagesResource({ pool }: ApiDeps) {
  return resource('Published images', '/api/images', [
    route({
      method: 'get',
      path: '/',
      operationId: 'listImages',
      response: pageOf(image),
      summary: 'List published images, newest first',
      access: 'read',
      query: pageQuery.extend({
        name: z.string().max(256).optional(),
        templateId: z.uuid().optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
      }),
      handle: ({ query }) => listPage(pool, publishedImageList, query),
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getImage',
      response: image,
      summary: 'Describe a published image: template snapshot, layer versions, location, hash, conflicts',
      access: 'read',
      params: idParams,
      handle: ({ params }) => findOr404(pool, publishedImageList, params.id, 'Published image'),
    }),
  ]);
}
