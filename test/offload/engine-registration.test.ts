import { randomUUID } from 'node:crypto';
import { createOffloadActivities, registrationProof } from '../../activities/offload-engines';
import { loadSecretBox } from '../../config/master-key';
import type { SecretBox } from '../../config/secret-box';
import { insertEngine } from '../../db/compositing-engines';
import { LOCAL_CONNECTOR, startAppliance, type Appliance } from '../workflows/fixtures';

/**
 * A Compositing Engine's one-time registration (issue 17 §2): the proof is an HMAC of the engine's id
 * under the token it was launched with; it is accepted once (a retried admission of the same engine is
 * the same registration), never for another initiator, never with another token, never after expiry.
 */

let app: Appliance;
let secrets: SecretBox;
let activities: ReturnType<typeof createOffloadActivities>;

beforeAll(async () => {
  app = await startAppliance({ worker: false });
  secrets = loadSecretBox(app.config);
  activities = createOffloadActivities({
    pool: app.stack.pool,
    secrets,
    repositoryDir: app.config.repositoryDir,
    iscsiChapKey: Buffer.alloc(32),
    offload: { engineEnvironment: {}, engineAddress: '127.0.0.1', registrationSeconds: 60 },
  });
});

afterAll(() => app?.stop());

async function engine(token: string, expiresInMs = 60_000): Promise<string> {
  const id = randomUUID();
  await insertEngine(app.stack.pool, {
    id,
    taskId: 'test-task',
    connectorId: LOCAL_CONNECTOR,
    token: secrets.seal(token),
    expiresAt: new Date(Date.now() + expiresInMs),
  });
  return id;
}

const INITIATOR = 'iqn.2024-01.org.lamina-appliance.ce:test';

test('the right proof registers the engine once; the same registration again is answered alike', async () => {
  const id = await engine('token-one');
  const proof = registrationProof('token-one', id);
  await activities.admitCompositingEngine({ engineId: id, proof, initiatorName: INITIATOR });
  await activities.admitCompositingEngine({ engineId: id, proof, initiatorName: INITIATOR });
  const { rows } = await app.stack.pool.query(
    'SELECT initiator_name, registered_at IS NOT NULL AS registered FROM compositing_engines WHERE id = $1',
    [id],
  );
  expect(rows).toEqual([{ initiator_name: INITIATOR, registered: true }]);
});

test('a used token does not register another initiator', async () => {
  const id = await engine('token-two');
  const proof = registrationProof('token-two', id);
  await activities.admitCompositingEngine({ engineId: id, proof, initiatorName: INITIATOR });
  await expect(
    activities.admitCompositingEngine({
      engineId: id,
      proof,
      initiatorName: 'iqn.2024-01.org.example:other',
    }),
  ).rejects.toThrow(
    `Compositing Engine ${id} refused: its one-time registration token has expired or was used already`,
  );
});

test('a proof made with another token, or for another engine, is refused', async () => {
  const id = await engine('token-three');
  const other = await engine('token-four');
  await expect(
    activities.admitCompositingEngine({
      engineId: id,
      proof: registrationProof('guessed', id),
      initiatorName: INITIATOR,
    }),
  ).rejects.toThrow('its registration token is not the one it was launched with');
  await expect(
    activities.admitCompositingEngine({
      engineId: id,
      proof: registrationProof('token-four', other),
      initiatorName: INITIATOR,
    }),
  ).rejects.toThrow('its registration token is not the one it was launched with');
});

test('an expired token is refused', async () => {
  const id = await engine('token-five', -1000);
  await expect(
    activities.admitCompositingEngine({
      engineId: id,
      proof: registrationProof('token-five', id),
      initiatorName: INITIATOR,
    }),
  ).rejects.toThrow('its one-time registration token has expired or was used already');
});

test('an engine nobody made is refused', async () => {
  const id = randomUUID();
  await expect(
    activities.admitCompositingEngine({
      engineId: id,
      proof: registrationProof('x', id),
      initiatorName: INITIATOR,
    }),
  ).rejects.toThrow('no such engine was made for this task');
});
