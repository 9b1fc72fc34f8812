import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { isEncrypted, PayloadEncryptionCodec } from '../config/payload-codec';
import { installWorkerRuntime } from '../runtime/temporal-connection';
import { harnessValue } from './harness';

/**
 * Replays every committed history (test/histories/*.json, recorded from real runs with
 * scripts/record-history) against the current workflow code: a change that would break running
 * workflows fails here and needs `patched()`.
 */
const historiesDir = path.join(__dirname, 'histories');
const files = fs.readdirSync(historiesDir).filter((f) => f.endsWith('.json'));
/**
 * Histories recorded since payloads are encrypted were recorded by an appliance run with this test-only
 * key as LAMINA_MASTER_KEY; the older ones hold clear payloads, which the codec passes through.
 */
const recordingKey = Buffer.from(
  fs.readFileSync(path.join(historiesDir, 'recording-key.base64'), 'utf8').trim(),
  'base64',
);
const dataConverter = { payloadCodecs: [new PayloadEncryptionCodec([recordingKey])] };

describe('workflow replay against committed histories', () => {
  beforeAll(installWorkerRuntime);

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('has a history with encrypted payloads, which only the recording key opens', async () => {
    const raw = JSON.parse(
      fs.readFileSync(path.join(historiesDir, 'testConnector-encrypted-v1.json'), 'utf8'),
    );
    const input = historyFromJSON(raw).events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
    expect(input.map(isEncrypted)).toEqual([true]);
    await expect(new PayloadEncryptionCodec([randomBytes(32)]).decode(input)).rejects.toThrow(
      /which this appliance does not hold/,
    );
    await expect(dataConverter.payloadCodecs[0].decode(input)).resolves.toHaveLength(1);
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    const raw = JSON.parse(fs.readFileSync(path.join(historiesDir, file), 'utf8'));
    const history = historyFromJSON(raw);
    const workflowId = path.basename(file, '.json');
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: { codePath: harnessValue('workflowBundle') }, dataConverter },
        history,
        workflowId,
      ),
    ).resolves.toBeUndefined();
  });
});
