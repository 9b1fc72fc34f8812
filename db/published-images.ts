import type { Pool } from 'pg';
import type { ListDefinition } from './list-page';
import type { PublishPlan } from './publish-plans';

export interface PublishedImage {
  id: string;
  name: string;
  plan: PublishPlan;
  outputLocation: string;
  sha256: string;
  conflictReport: unknown;
  taskId: string;
  /** MCS master images; `refs` are the hypervisor's own (vSphere morefs of the VM and snapshot). */
  vm?: { id: string; name: string; snapshot: string; refs?: { vm: string; snapshot: string } };
  postPublish?: unknown;
}

/** Records a published image; keyed by the id the publish task chose, so a retry rewrites the same row. */
export async function recordPublishedImage(pool: Pool, image: PublishedImage): Promise<void> {
  const layers = [image.plan.os, ...image.plan.apps, ...(image.plan.platform ? [image.plan.platform] : [])];
  await pool.query(
    `INSERT INTO published_images (id, name, template_id, template_snapshot, layer_versions, output_location,
                                   sha256, conflict_report, connector_id, task_id, vm, post_publish)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (id) DO UPDATE SET output_location = $6, sha256 = $7, conflict_report = $8, vm = $11, post_publish = $12`,
    [
      image.id,
      image.name,
      image.plan.template.id,
      JSON.stringify(image.plan.template),
      JSON.stringify(layers),
      image.outputLocation,
      image.sha256,
      JSON.stringify(image.conflictReport),
      image.plan.connector.id,
      image.taskId,
      image.vm ? JSON.stringify(image.vm) : null,
      image.postPublish === undefined ? null : JSON.stringify(image.postPublish),
    ],
  );
}

/** The compensation of recordPublishedImage, for a publish stopped right after its record was written. */
export async function deletePublishedImage(pool: Pool, id: string): Promise<void> {
  await pool.query('DELETE FROM published_images WHERE id = $1', [id]);
}

/** Published images as the API lists them, newest first. */
export const publishedImageList: ListDefinition<object> = {
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
