import express from 'express';
import { isDatabaseUnreachable } from '../db/pool';
import { auditResource } from './audit/audit-router';
import { auditMutations } from './audit/audit-log';
import { authResource } from './auth/auth-router';
import { authenticateRequests } from './auth/authenticate';
import { connectorsResource } from './connectors/connectors-router';
import { consoleSettingsResource } from './console-settings';
import { consoleRouter } from './console-static';
import { requireCsrfToken } from './csrf';
import type { ApiDeps } from './deps';
import { junctionsResource } from './directory-junctions/junctions-router';
import { elasticAssignmentsResource } from './elastic-assignments/elastic-assignments-router';
import { healthRouter } from './health';
import { imagesResource } from './images/images-router';
import { ipsResource } from './ips/ips-router';
import { jsonBody } from './json-body';
import { layerTasksResource } from './layer-tasks/layer-tasks-router';
import { layerTransfersResource } from './layer-transfers/layer-transfers-router';
import { layersResource } from './layers/layers-router';
import { openApiResource } from './openapi/openapi-router';
import { problemHandler, sendProblem } from './problem';
import { publishResource } from './publishing/publish-router';
import { roleAssignmentsResource } from './role-assignments/role-assignments-router';
import { resourceRouter, type Resource } from './route';
import { storageLocationsResource } from './storage-locations/storage-locations-router';
import { elasticSharesResource } from './system-settings/elastic-shares-router';
import { tasksResource } from './tasks/tasks-router';
import {
  CODEC_BASE_PATH,
  temporalCodecCors,
  temporalCodecResource,
} from './temporal-codec/temporal-codec-router';
import { templatesResource } from './templates/templates-router';
import { tokensResource } from './tokens/tokens-router';
import { uploadsResource } from './uploads/uploads-router';
import { vmStandInsResource } from './vms/vm-stand-ins-router';

export type { ApiDeps } from './deps';

/** The route table: every resource of the API, in the order the docs list them. */
export function apiResources(deps: ApiDeps): Resource[] {
  const resources = [
    authResource(deps),
    tokensResource(deps),
    layersResource(deps),
    layerTasksResource(deps),
    uploadsResource(deps),
    connectorsResource(deps),
    vmStandInsResource(deps),
    templatesResource(deps),
    publishResource(deps),
    ipsResource(deps),
    imagesResource(deps),
    storageLocationsResource(deps),
    elasticAssignmentsResource(deps),
    elasticSharesResource(deps),
    layerTransfersResource(deps),
    tasksResource(deps),
    temporalCodecResource(deps),
    auditResource(deps),
    junctionsResource(deps),
    roleAssignmentsResource(deps),
    consoleSettingsResource(deps),
  ];
  resources.push(openApiResource(() => resources));
  return resources;
}

/**
 * On every answer: nothing may frame it or load from elsewhere, browsers take the declared content
 * type, and no Referer leaves. API answers carry sessions, tokens and settings: never cached.
 */
const securityHeaders: express.RequestHandler = (req, res, next) => {
  res.set({
    'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'",
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  if (/^\/api(\/|$)/.test(req.path)) res.set('Cache-Control', 'no-store');
  next();
};

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  app.use(jsonBody);
  app.use(healthRouter(deps.readiness));
  app.use(CODEC_BASE_PATH, temporalCodecCors(deps.temporalUiOrigins));
  app.use('/api', authenticateRequests(deps), auditMutations(deps.pool), requireCsrfToken);
  for (const resource of apiResources(deps)) app.use(resource.basePath, resourceRouter(resource));
  app.use(consoleRouter());
  app.use((req, res) => {
    sendProblem(res, { title: 'Not found', status: 404, detail: `No route for ${req.method} ${req.path}` });
  });
  app.use(problemHandler((err) => isDatabaseUnreachable(deps.pool, err)));
  return app;
}
