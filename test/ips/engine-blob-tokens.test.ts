import { randomBytes } from 'node:crypto';
import {
  AnonymousCredential,
  BlobServiceClient,
  isRestError,
  PageBlobClient,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import {
  openAsEngine,
  pageBlobWithSas,
  sealForEngine,
  untrustedCertificate,
  type EngineBlobTokens,
} from '../../activities/ips-engine-blobs';
import { AzureConnector } from '../../connectors/azure/azure-connector';
import { AzureStorageError, storagePipeline } from '../../connectors/azure/blob-storage';
import type { AzureConnectorSettings } from '../../connectors/azure/settings';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { selfSignedCertificate, SERVICE_PRINCIPAL_OBJECT_ID, type ArmFake } from '../azure/arm-fake';
import { armFakeFor, armSettings, ARM_SECRET } from '../azure/arm-fixtures';
import { azuriteConnector, azuriteSettings, serviceClient } from '../azure/fixtures';
import { testDir } from '../harness';

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
  const sas = await azure.blobSas('source.vhd', 'r', hour());
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect((await source.downloadToBuffer(0, 512)).equals(Buffer.alloc(512, 7))).toBe(true);
  expect(await statusOf(() => source.uploadPages(Buffer.alloc(512), 512, 512))).toBe(403);
  const other = pageBlobWithSas(azure.blobUrl('other.vhd'), sas);
  expect(await statusOf(() => other.create(512))).toBe(403);
});

test('the output token creates and writes its blob, and reads nothing', async () => {
  const sas = await azure.blobSas('prepared.vhd', 'cw', hour());
  const output = pageBlobWithSas(azure.blobUrl('prepared.vhd'), sas);
  expect(await statusOf(() => output.create(1024))).toBe(200);
  expect(await statusOf(() => output.uploadPages(Buffer.alloc(512, 1), 0, 512))).toBe(200);
  expect(await statusOf(() => output.setMetadata({ laminastate: 'complete' }))).toBe(200);
  expect(await statusOf(() => output.downloadToBuffer(0, 512))).toBe(403);
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect(await statusOf(() => source.downloadToBuffer(0, 512))).toBe(403);
});

test('an expired token is refused', async () => {
  const sas = await azure.blobSas('source.vhd', 'r', new Date(Date.now() - 1000));
  const source = pageBlobWithSas(azure.blobUrl('source.vhd'), sas);
  expect(await statusOf(() => source.downloadToBuffer(0, 512))).toBe(403);
});

/**
 * A connector without the account key (Azure accounts that allow no shared key): the tokens are signed
 * with a user delegation key its service principal gets with its Entra ID token. Azurite serves Get
 * User Delegation Key over HTTPS with `--oauth basic`, deriving the key from the token's oid and tid as
 * the Blob service does, and checks a user delegation SAS's signature against it; the token comes from
 * the ARM fake's Entra ID (it checks the client id and secret; Azurite checks the token's issuer,
 * audience and lifetime, not its signature, which the fake does not make).
 */
describe('without the account key', () => {
  let secure: Azurite;
  let arm: ArmFake;
  let settings: AzureConnectorSettings;
  let keyless: AzureConnector;
  const blob = (name: string, sas: string) =>
    new PageBlobClient(
      `${keyless.blobUrl(name)}?${sas}`,
      new AnonymousCredential(),
      storagePipeline(settings),
    );

  beforeAll(async () => {
    const tls = await selfSignedCertificate(testDir('engine-blob-tokens-tls'));
    secure = await startAzurite({ oauth: tls });
    arm = await armFakeFor(secure);
    settings = azuriteSettings(secure, {
      ...armSettings(arm),
      caCertificate: `${tls.certificate}${arm.certificate}`,
    });
    keyless = new AzureConnector(settings, { clientSecret: ARM_SECRET });
    const container = new BlobServiceClient(
      secure.blobEndpoint,
      new StorageSharedKeyCredential(secure.accountName, secure.accountKey),
      storagePipeline(settings),
    ).getContainerClient('images');
    await container.create();
    const source = container.getPageBlobClient('source.vhd');
    await source.create(1024);
    await source.uploadPages(Buffer.alloc(512, 7), 0, 512);
  }, 120_000);

  afterAll(async () => {
    await arm?.stop();
    await secure?.stop();
  });

  test("signs them with a user delegation key of the service principal's, each reaching its blob with its permissions only", async () => {
    const sourceSas = await keyless.blobSas('source.vhd', 'r', hour());
    const signed = new URLSearchParams(sourceSas);
    expect(signed.get('skoid')).toBe(SERVICE_PRINCIPAL_OBJECT_ID);
    expect(signed.get('sktid')).toBe(settings.tenantId);
    expect(signed.get('sp')).toBe('r');
    const source = blob('source.vhd', sourceSas);
    expect((await source.downloadToBuffer(0, 512)).equals(Buffer.alloc(512, 7))).toBe(true);
    expect(await statusOf(() => source.uploadPages(Buffer.alloc(512), 512, 512))).toBe(403);
    expect(await statusOf(() => blob('other.vhd', sourceSas).create(512))).toBe(403);

    const outputSas = await keyless.blobSas('prepared.vhd', 'cw', hour());
    const output = blob('prepared.vhd', outputSas);
    expect(await statusOf(() => output.create(1024))).toBe(200);
    expect(await statusOf(() => output.uploadPages(Buffer.alloc(512, 1), 0, 512))).toBe(200);
    expect(await statusOf(() => output.downloadToBuffer(0, 512))).toBe(403);
    expect(await statusOf(() => blob('source.vhd', outputSas).downloadToBuffer(0, 512))).toBe(403);
    // A token signed with a key of another principal is refused.
    const forged = new URLSearchParams(sourceSas);
    forged.set('skoid', '00000000-1111-4c5e-9d7f-0a1b2c3d4e5f');
    expect(await statusOf(() => blob('source.vhd', forged.toString()).downloadToBuffer(0, 512))).toBe(403);
  });

  test("an engine's blob client trusts the connector's CA it is given, and names a certificate it does not trust", async () => {
    const sas = await keyless.blobSas('source.vhd', 'r', hour());
    const url = keyless.blobUrl('source.vhd');
    const trusting = pageBlobWithSas(url, sas, settings.caCertificate);
    expect((await trusting.downloadToBuffer(0, 512)).equals(Buffer.alloc(512, 7))).toBe(true);
    // Without it: the public CAs only, which did not issue the emulator's self-signed certificate.
    const refused = await pageBlobWithSas(url, sas)
      .downloadToBuffer(0, 512)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refused).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const origin = new URL(secure.blobEndpoint).origin;
    expect(untrustedCertificate(refused, url, false)).toMatch(
      new RegExp(
        `^the Compositing Engine does not trust the certificate of the storage endpoint ${origin.replace(/\./g, '\\.')} ` +
          '\\(DEPTH_ZERO_SELF_SIGNED_CERT: self[- ]signed certificate\\): give the connector the CA that issued it',
      ),
    );
    expect(untrustedCertificate(refused, `${url}?${sas}`, true)).not.toContain('sig=');
    expect(untrustedCertificate(refused, url, true)).toMatch(
      /caCertificate does not hold the CA that issued it$/,
    );
    // Any other failure is not about a certificate.
    expect(untrustedCertificate(new Error('socket hang up'), url, false)).toBeUndefined();
  });

  test('a service principal that cannot get a user delegation key is named, with what to give the connector', async () => {
    const refused = new AzureConnector(settings, { clientSecret: 'not-the-secret' });
    const signing = refused.blobSas('source.vhd', 'r', hour());
    await expect(signing).rejects.toThrow(AzureStorageError);
    await expect(signing).rejects.toThrow(
      new RegExp(
        `service principal '${settings.clientId}' could not get one \\(.*Invalid client secret.*\\): give it a role`,
      ),
    );
    await expect(signing).rejects.toThrow(/or give the connector its storageKey/);
  });
});

test('sealed tokens open with the engine token only', () => {
  const tokens: EngineBlobTokens = { source: 'sp=r&sig=a', output: 'sp=cw&sig=b' };
  const engineToken = randomBytes(32).toString('base64url');
  const sealed = sealForEngine(engineToken, tokens);
  expect(sealed).not.toContain('sig=');
  expect(openAsEngine(engineToken, sealed)).toEqual(tokens);
  expect(() => openAsEngine(randomBytes(32).toString('base64url'), sealed)).toThrow();
});
