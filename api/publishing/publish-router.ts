import { z } from 'zod';
import { loadPublishPlan, PublishPlanError, TemplateNotFoundError } from '../../db/publish-plans';
import type { PublishImageInput } from '../../workflows/publish-image';
import type { ApiDeps } from '../deps';
import { HttpProblem, notFound } from '../problem';
import { resource, route } from '../route';
import { taskSchema } from '../tasks/task-schemas';
import { idParams } from '../validation';
import { withTaskLocation } from '../tasks/task-location';

const publishBody = z.object({
  scriptsTimeoutSeconds: z.number().int().min(1).max(86400).optional(),
  powerPollSeconds: z.number().int().min(1).max(3600).optional(),
});

/** Publishing a template: checked here so a template that cannot publish is refused before any task starts. */
export function publishResource({ pool, tasks }: ApiDeps) {
  return resource('Publishing', '/api/templates', [
    route({
      method: 'post',
      path: '/:id/publish',
      operationId: 'publishImage',
      summary: 'Start a task publishing a layered image from the template',
      access: 'images.publish',
      params: idParams,
      body: publishBody,
      status: 202,
      response: taskSchema,
      handle: async ({ params, body, caller, res }) => {
        let name: string;
        try {
          name = (await loadPublishPlan(pool, params.id)).template.name;
        } catch (err) {
          if (err instanceof TemplateNotFoundError) throw notFound('Image template', params.id);
          if (!(err instanceof PublishPlanError)) throw err;
          throw new HttpProblem({
            title: 'Template cannot be published',
            status: 409,
            detail: err.message,
            errors: err.problems.map((message) => ({ field: 'template', message })),
          });
        }
        const input: PublishImageInput = { templateId: params.id, ...body };
        return withTaskLocation(
          res,
          await tasks.start('publishImage', {
            user: caller.name,
            objectId: params.id,
            label: name,
            args: [input],
          }),
        );
      },
    }),
  ]);
}
