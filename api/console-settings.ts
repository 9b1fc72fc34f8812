import { z } from 'zod';
import type { ApiDeps } from './deps';
import { resource, route } from './route';

const consoleSettings = z.object({
  temporalWorkflowsUrl: z
    .string()
    .nullable()
    .describe(
      "The Temporal Web UI's workflow list of Lamina's namespace; a task's workflow is <url>/<task id>. Null when no Web UI runs beside the appliance",
    ),
});

/** What the web console needs to know about the appliance beyond its resources. */
export function consoleSettingsResource({ temporalWorkflowsUrl }: Pick<ApiDeps, 'temporalWorkflowsUrl'>) {
  return resource('Console', '/api/console', [
    route({
      method: 'get',
      path: '/settings',
      operationId: 'getConsoleSettings',
      response: consoleSettings,
      summary: 'Settings the web console shows: where the Temporal Web UI is',
      access: 'signed-in',
      handle: async () => ({ temporalWorkflowsUrl: temporalWorkflowsUrl ?? null }),
    }),
  ]);
}
