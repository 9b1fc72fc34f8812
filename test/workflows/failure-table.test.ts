import { ApplicationFailure } from '@temporalio/common';
import { classifyFailure, withFailureTable } from '../../activities/failure-table';
import { ComposeError } from '../../compositor/errors';
import { PublishPlanError, TemplateNotFoundError } from '../../db/publish-plans';
import { DiskFormatError } from '../../disk/errors';

describe('the failure table at the activity edge', () => {
  it('makes domain errors that retrying cannot heal non-retryable, naming the cause', () => {
    const cases: [Error, string][] = [
      [new ComposeError('the image is too small for the content (App did not fit)'), 'ComposeError'],
      [new DiskFormatError('a.vhdx', 'VHDX header', 65536, 'bad signature'), 'DiskFormatError'],
      [new TemplateNotFoundError('t-1'), 'TemplateNotFound'],
      [new PublishPlanError(["layer 'A' version 1 is Failed, not Deployable"]), 'TemplateNotPublishable'],
    ];
    for (const [error, type] of cases) {
      const failure = classifyFailure(error);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type, nonRetryable: true, message: error.message });
    }
  });

  it('leaves other errors to the retry policy, and failures already classified as they are', () => {
    const transient = new Error('connection reset');
    expect(classifyFailure(transient)).toBe(transient);
    const classified = ApplicationFailure.nonRetryable('no such connector', 'ConnectorMissing');
    expect(classifyFailure(classified)).toBe(classified);
  });

  it('wraps every activity, keeping names and results', async () => {
    const activities = withFailureTable({
      ok: async (n: number) => n + 1,
      tooSmall: async () => {
        throw new ComposeError('too small');
      },
    });
    expect(Object.keys(activities)).toEqual(['ok', 'tooSmall']);
    await expect(activities.ok(1)).resolves.toBe(2);
    await expect(activities.tooSmall()).rejects.toMatchObject({ type: 'ComposeError', nonRetryable: true });
  });
});
