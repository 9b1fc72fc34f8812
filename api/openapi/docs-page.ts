import { createHash } from 'node:crypto';

type Document = ReturnType<typeof import('./openapi-document').openApiDocument>;

const STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222 }
  h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem } h3 { margin-bottom: .2rem; font-size: 1rem }
  .m { display: inline-block; min-width: 4.5rem; text-align: center; border-radius: 3px; color: #fff; padding: 0 .3rem }
  .get { background: #2b6cb0 } .post { background: #2f855a } .patch { background: #b7791f } .delete { background: #c53030 }
  pre { background: #f6f6f6; padding: .6rem; overflow: auto } details { margin: .2rem 0 .2rem 1rem }
`;

/** The API's policy, plus this page's own inline stylesheet allowed by its hash (it loads nothing else). */
export const DOCS_CONTENT_SECURITY_POLICY = `default-src 'self'; style-src 'sha256-${createHash('sha256')
  .update(STYLE)
  .digest('base64')}'; frame-ancestors 'none'`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function block(title: string, value: unknown): string {
  return `<details><summary>${escapeHtml(title)}</summary><pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre></details>`;
}

/**
 * A browsable reference rendered on the server from the OpenAPI document: self-contained (no scripts,
 * no CDN), because an appliance often has no internet access.
 */
export function docsPage(doc: Document): string {
  const sections = doc.tags.map(({ name }) => {
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods as Record<string, Record<string, unknown>>)
        .filter(([, op]) => (op.tags as string[]).includes(name))
        .map(([method, op]) => {
          const parameters = op.parameters as unknown[];
          const body = (op.requestBody as { content: Record<string, { schema: unknown }> } | undefined)
            ?.content['application/json'].schema;
          return `<article id="${escapeHtml(String(op.operationId))}">
  <h3><code class="m ${method}">${method.toUpperCase()}</code> <code>${escapeHtml(path)}</code></h3>
  <p>${escapeHtml(String(op.summary))} — access: <code>${escapeHtml(String(op['x-lamina-access']))}</code>,
     answers: ${Object.keys(op.responses as object).join(', ')}</p>
  ${parameters.length ? block('Parameters', parameters) : ''}
  ${body ? block('Request body (JSON Schema)', body) : ''}
</article>`;
        }),
    );
    return `<section><h2>${escapeHtml(name)}</h2>${operations.join('\n')}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)}</title>
<style>${STYLE}</style></head>
<body><h1>${escapeHtml(doc.info.title)} ${escapeHtml(doc.info.version)}</h1>
<p>${escapeHtml(doc.info.description)}</p>
<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>
${sections.join('\n')}
</body></html>`;
}
