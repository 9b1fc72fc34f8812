import fs from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';
import { projectRoot } from '../lib/project-root';
import { sendProblem } from './problem';

/** Where `npm run build:console` (run by scripts/setup) writes the console's bundle. */
export function consoleBundleDir(): string {
  return path.join(projectRoot(), 'dist', 'console');
}

/**
 * The web console at `/`, same origin as the API so it uses the session cookie. Its files are named by
 * content hash (kept a year); index.html is asked again every time so a new build is seen at once. A
 * page path of the console (`/layers/…`, no file extension) answers index.html: the console routes in
 * the browser. Paths under /api never reach here as a page.
 */
export function consoleRouter(bundleDir = consoleBundleDir()): Router {
  const router = Router();
  const index = path.join(bundleDir, 'index.html');
  router.use(
    '/assets',
    express.static(path.join(bundleDir, 'assets'), { immutable: true, maxAge: '365d', index: false }),
  );
  router.get(/^\/(?!api\/|api$)[^.]*$/, (_req, res) => {
    if (!fs.existsSync(index)) {
      sendProblem(res, {
        title: 'Console not built',
        status: 503,
        detail: `No console bundle at ${bundleDir}; run scripts/setup (npm run build:console).`,
      });
      return;
    }
    res.set('Cache-Control', 'no-cache').sendFile(index);
  });
  return router;
}
