import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { installWorkerRuntime } from '../runtime/temporal-connection';
import { harnessValue } from './harness';

/**
 * Replays every committed history (test/histories/*.json, recorded from real runs with
 * scripts/record-history) against the current workflow code: a change that would break running
 * workflows fails here and needs `patched()`.
 */
const historiesDir = path.join(__dirname, 'histories');
const files = fs.readdirSync(historiesDir).filter((f) => f.endsWith('.json'));

describe('workflow replay against committed histories', () => {
  beforeAll(installWorkerRuntime);

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    const raw = JSON.parse(fs.readFileSync(path.join(historiesDir, file), 'utf8'));
    const history = historyFromJSON(raw);
    const workflowId = path.basename(file, '.json');
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: harnessValue('workflowBundle') } },
        history,
        workflowId,
      ),
    ).resolves.toBeUndefined();
  });
});
