import { z } from 'zod';
import { listPage, pageQuery, type ListDefinition } from '../../db/list-page';
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

const imagesView: ListDefinition<object> = {
  select: `SELECT id, name, template_id AS "templateId", template_snapshot AS "template",
                  layer_versions AS "layerVersions", output_location AS "outputLocation", sha256,
                  conflict_report AS "conflictReport", published_at AS "publishedAt"
             FROM published_images`,
  filters: {
    name: { column: 'name', op: 'contains' },
    templateId: { column: 'template_id', op: 'equals' },
    since: { column: 'published_at', op: 'since' },
    until: { column: 'published_at', op: 'until' },
  },
  orderBy: '"publishedAt" DESC',
};

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
      handle: ({ query }) => listPage(pool, imagesView, query),
    }),
    route({
      method: 'get',
      path: '/:id',
      operationId: 'getImage',
      response: image,
      summary: 'Describe a published image: template snapshot, layer versions, location, hash, conflicts',
      access: 'read',
      params: idParams,
      handle: ({ params }) => findOr404(pool, imagesView, params.id, 'Published image'),
    }),
  ]);
}
