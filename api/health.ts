import { Router } from 'express';

/** A dependency the appliance cannot work without; `check` rejects with the reason it is down. */
export interface ReadinessProbe {
  name: string;
  check(): Promise<void>;
}

const PROBE_TIMEOUT_MS = 3000;

function withTimeout(promise: Promise<void>, name: string): Promise<void> {
  return Promise.race([
    promise,
    new Promise<void>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${name} did not answer within ${PROBE_TIMEOUT_MS} ms`)),
        PROBE_TIMEOUT_MS,
      ).unref(),
    ),
  ]);
}

/** /healthz: the process is alive. /readyz: every dependency answers; 503 names the ones that don't. */
export function healthRouter(probes: ReadinessProbe[]): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      probes.map(async (probe) => {
        try {
          await withTimeout(probe.check(), probe.name);
          return { name: probe.name, ok: true as const };
        } catch (err) {
          return { name: probe.name, ok: false as const, error: (err as Error).message };
        }
      }),
    );
    const down = results.filter((r) => !r.ok).map((r) => r.name);
    const checks = Object.fromEntries(results.map(({ name, ...rest }) => [name, rest]));
    if (down.length === 0) {
      res.json({ status: 'ready', checks });
    } else {
      res.status(503).json({ status: 'unavailable', down, checks });
    }
  });
  return router;
}
