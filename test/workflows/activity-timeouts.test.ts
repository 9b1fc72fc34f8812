import type { PublishImageResult } from '../../workflows/publish-image';
import {
  completed,
  fileshareConnector,
  goldImage,
  importedOs,
  startAppliance,
  template,
  type Appliance,
} from './fixtures';

/**
 * How long a lost activity task stalls a task: the start-to-close timeout each step is scheduled with,
 * read from a real publish's workflow history. Bookkeeping (records, names, scratch) gets 2 minutes, so
 * a task that a dying worker took with it is retried then; steps that wait on an admin's script or a
 * hypervisor keep 15 minutes; the long disk steps heartbeat, so their hours-long timeouts never make
 * anyone wait for a dead worker.
 */
describe('activity timeouts by kind of step', () => {
  let app: Appliance;

  beforeAll(async () => {
    app = await startAppliance();
  }, 300_000);
  afterAll(() => app?.stop());

  it('schedules a publish’s bookkeeping with 2 minutes, its post-publish script with 15, its disk steps with heartbeats', async () => {
    const os = await importedOs(app.api, await goldImage());
    const share = await fileshareConnector(app.api, { postPublishScript: 'true' });
    const templateId = await template(app.api, {
      name: 'Timeouts',
      osVersionId: os.versionId,
      connectorId: share.id,
    });
    const started = await app.api.post(`/api/templates/${templateId}/publish`);
    await completed<PublishImageResult>(app.api, started);

    const history = await app.stack.client.workflow.getHandle(started.body.id).fetchHistory();
    const scheduled = new Map<string, { startToClose: number; heartbeat: number }>();
    for (const event of history.events ?? []) {
      const activity = event.activityTaskScheduledEventAttributes;
      if (!activity) continue;
      scheduled.set(activity.activityType!.name!, {
        startToClose: Number(activity.startToCloseTimeout?.seconds ?? 0),
        heartbeat: Number(activity.heartbeatTimeout?.seconds ?? 0),
      });
    }
    const minutes = (n: number) => ({ startToClose: n * 60, heartbeat: 0 });
    expect(Object.fromEntries(scheduled)).toEqual({
      planPublish: minutes(2),
      reserveImageName: minutes(2),
      createScratch: minutes(2),
      composeImage: { startToClose: 6 * 3600, heartbeat: 10 },
      copyImageToStore: { startToClose: 12 * 3600, heartbeat: 10 },
      runPostPublishScript: minutes(15),
      recordPublishedImage: minutes(2),
      removeScratch: minutes(2),
    });
  }, 300_000);
});
