import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/project-root';
import { resource, route, type Resource } from '../route';
import { DOCS_CONTENT_SECURITY_POLICY, docsPage } from './docs-page';
import { openApiDocument } from './openapi-document';

function packageVersion(): string {
  return (
    JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/** /api/openapi.json and the /api/docs page, both public: the API's shape is no secret. */
export function openApiResource(documented: () => Resource[]): Resource {
  let cached: { json: ReturnType<typeof openApiDocument>; html: string } | undefined;
  // Built on first request: by then every resource, this one included, is in the table.
  const build = () => {
    if (!cached) {
      const json = openApiDocument(documented(), packageVersion());
      cached = { json, html: docsPage(json) };
    }
    return cached;
  };
  return resource('API description', '/api', [
    route({
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This API as an OpenAPI 3.1 document',
      access: 'public',
      handle: async () => build().json,
    }),
    route({
      method: 'get',
      path: '/docs',
      operationId: 'getApiDocs',
      summary: 'This API as a browsable page',
      access: 'public',
      handle: async ({ res }) => {
        res.type('html').set('Content-Security-Policy', DOCS_CONTENT_SECURITY_POLICY).send(build().html);
      },
    }),
  ]);
}
