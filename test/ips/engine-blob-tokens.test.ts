import { randomBytes } from 'node:crypto';
import { isRestError } from '@azure/storage-blob';
import {
  openAsEngine,
  pageBlobWithSas,
  sealForEngine,
  type EngineBlobTokens,
} from '../../activities/ips-engine-blobs';
import { AzureStorageError } from '../../connectors/azure/blob-storage';
import type { AzureConnector } from '../../connectors/azure/azure-connector';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { azuriteConnector, serviceClient } from '../azure/fixtures';

/**
 * The SAS tokens an Azure Compositing Engine prepares with (activities/ips-engine-blobs.ts), against
 * Azurite, which checks a SAS's signature, scope and permissions as the Blob service does: each reaches
 * its one blob with its permissions only, and they travel sealed under the engine's one-time token.
 */

let azurite: Azurite;
let azure: AzureConnector;
const hour = () => new Date(Date.now() + 3_600_000);

beforeAll(async () => {
  azurite = await startAzurite();
  await serviceClient(azurite).getContainerClient('images').create();
  azure = azuriteConnector(azurite);
  const source = serviceClient(azurite).getContainerClient('images').getPageBlobClient('source.vhd');
  await source.create(1024);
  await source.uploadPages(Buffer.alloc(512, 7), 0, 512);
}, 120_000);

afterAll(() => azurite?.stop());

/** The HTTP status the service answers a request with (200 when it succeeds). */
async function statusOf(request: () => Promise<unknown>): Promise<number> {
  try {
    await request();
    return 200;
  } catch (err) {
    if (isRestError(err) && err.statusCode) return err.statusCode;
    throw err;
  }
}

test('the source token reads its blob and nothing else', async () => {
  const sas = azure.blobSas('source.vhd', 'r', hour());
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect((await source.downloadToBuffer(0, 512)).equals(Buffer.alloc(512, 7))).toBe(true);
  expect(await statusOf(() => source.uploadPages(Buffer.alloc(512), 512, 512))).toBe(403);
  const other = pageBlobWithSas(azure.blobUrl('other.vhd'), sas);
  expect(await statusOf(() => other.create(512))).toBe(403);
});

test('the output token creates and writes its blob, and reads nothing', async () => {
  const sas = azure.blobSas('prepared.vhd', 'cw', hour());
  const output = pageBlobWithSas(azure.blobUrl('prepared.vhd'), sas);
  expect(await statusOf(() => output.create(1024))).toBe(200);
  expect(await statusOf(() => output.uploadPages(Buffer.alloc(512, 1), 0, 512))).toBe(200);
  expect(await statusOf(() => output.setMetadata({ laminastate: 'complete' }))).toBe(200);
  expect(await statusOf(() => output.downloadToBuffer(0, 512))).toBe(403);
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect(await statusOf(() => source.downloadToBuffer(0, 512))).toBe(403);
});

test('an expired token is refused', async () => {
  const sas = azure.blobSas('source.vhd', 'r', new Date(Date.now() - 1000));
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect(await statusOf(() => source.downloadToBuffer(0, 512))).toBe(403);
});

test('a connector without the account key cannot sign them, and says what to give it', () => {
  const withSas = azuriteConnector(azurite, {}, { storageSas: 'sv=2023-01-03&sp=racwdl&sig=x' });
  expect(() => withSas.blobSas('source.vhd', 'r', hour())).toThrow(AzureStorageError);
  expect(() => withSas.blobSas('source.vhd', 'r', hour())).toThrow(/give the connector its storageKey/);
});

test('sealed tokens open with the engine token only', () => {
  const tokens: EngineBlobTokens = { source: 'sp=r&sig=a', output: 'sp=cw&sig=b' };
  const engineToken = randomBytes(32).toString('base64url');
  const sealed = sealForEngine(engineToken, tokens);
  expect(sealed).not.toContain('sig=');
  expect(openAsEngine(engineToken, sealed)).toEqual(tokens);
  expect(() => openAsEngine(randomBytes(32).toString('base64url'), sealed)).toThrow();
});
