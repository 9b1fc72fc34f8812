import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { AzureStorageError } from '../../connectors/azure/blob-storage';
import { PAGE_CHUNK } from '../../connectors/azure/page-blob-upload';
import { DiskFormatError } from '../../disk/errors';
import { run } from '../../lib/processes';
import { startAzurite, type Azurite } from '../../runtime/azurite';
import { CuttingProxy, scratchDir } from '../vsphere/fixtures';
import type { ConnectorCheck } from '../../connectors/connector';
import type { ArmFake } from './arm-fake';
import { armFakeFor, armSettings, ARM_SECRET } from './arm-fixtures';
import {
  azuriteConnector,
  compareWithSource,
  containerSas,
  makeSourceDisk,
  serviceClient,
  SOURCE_DATA_BYTES,
} from './fixtures';

const MIB = 2 ** 20;
let azurite: Azurite;
let arm: ArmFake;
let container: ContainerClient;
let dir: string;
let source: string;

beforeAll(async () => {
  azurite = await startAzurite();
  arm = await armFakeFor(azurite);
  container = serviceClient(azurite).getContainerClient('images');
  await container.create();
  dir = scratchDir('azure-upload');
  source = await makeSourceDisk(dir);
});

afterAll(async () => {
  await arm?.stop();
  await azurite?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.promises.readFile(file))
    .digest('hex');
}

async function pageRangeBytes(blobName: string): Promise<number> {
  let bytes = 0;
  for await (const r of container.getPageBlobClient(blobName).listPageRanges()) bytes += r.end - r.start + 1;
  return bytes;
}

describe('page blob upload to Azurite', () => {
  it('stores a fixed VHD of whole MiB that qemu-img finds equal to the source, sending no zeros', async () => {
    const connector = azuriteConnector(azurite);
    const result = await connector.uploadVhd(source, 'whole.vhd');
    const virtualSize = 37 * MIB + 3 * 512;
    expect(result.blobSize).toBe(38 * MIB + 512);
    // Only non-zero sectors go out: the data plus the footer, nothing of the zero runs between.
    expect(result.sent).toBeGreaterThanOrEqual(SOURCE_DATA_BYTES + 512);
    expect(result.sent).toBeLessThan(SOURCE_DATA_BYTES + 512 + 64 * 1024);
    expect(await pageRangeBytes('whole.vhd')).toBe(result.sent);

    const downloaded = path.join(dir, 'whole.vhd');
    await connector.downloadBlob('whole.vhd', downloaded);
    expect(fs.statSync(downloaded).size).toBe(38 * MIB + 512);
    await compareWithSource(downloaded, source);
    const info = JSON.parse(await run('qemu-img', ['info', '--output=json', '-f', 'vpc', downloaded]));
    expect(info['virtual-size']).toBe(38 * MIB);
    expect(info['virtual-size']).toBeGreaterThan(virtualSize);
    const props = await container.getBlobClient('whole.vhd').getProperties();
    expect(props.blobType).toBe('PageBlob');
    expect(props.metadata).toMatchObject({ laminastate: 'complete' });

    // Uploading again finds the blob complete and sends nothing.
    expect(await connector.uploadVhd(source, 'whole.vhd')).toMatchObject({ sent: 0, alreadyComplete: true });
  });

  it('resumes a stopped upload from its token and the blob page ranges, sending only what was missing', async () => {
    const connector = azuriteConnector(azurite);
    const stop = new AbortController();
    let token = 0;
    let firstSent = 0;
    await expect(
      connector.uploadVhd(source, 'resumed.vhd', {
        concurrency: 2,
        signal: stop.signal,
        onProgress: ({ sent, resume }) => {
          token = resume;
          firstSent = sent;
          if (sent >= 6 * MIB) stop.abort();
        },
      }),
    ).rejects.toThrow();
    expect(await container.getBlobClient('resumed.vhd').getProperties()).toMatchObject({
      metadata: { laminastate: 'partial' },
    });
    const committed = await pageRangeBytes('resumed.vhd');
    expect(committed).toBeGreaterThan(0);

    const second = await connector.uploadVhd(source, 'resumed.vhd', { resumeFrom: token });
    // Nothing committed is sent again: together the attempts sent the data about once.
    expect(second.sent).toBeLessThanOrEqual(SOURCE_DATA_BYTES + 512 + 64 * 1024 - committed);
    expect(firstSent + second.sent).toBeLessThan(SOURCE_DATA_BYTES + 512 + 2 * PAGE_CHUNK);
    const downloaded = path.join(dir, 'resumed.vhd');
    await connector.downloadBlob('resumed.vhd', downloaded);
    await compareWithSource(downloaded, source);
    // The same source gives the same blob whether it was cut or not (the footer is derived from the source).
    const whole = path.join(dir, 'whole.vhd');
    expect(await sha256(downloaded)).toBe(await sha256(whole));
  });

  it('rides out connections cut mid-request (the SDK retries each Put Page)', async () => {
    const proxy = await CuttingProxy.start(azurite.port);
    try {
      const connector = azuriteConnector(azurite, {
        blobEndpoint: `http://127.0.0.1:${proxy.port}/${azurite.accountName}`,
      });
      proxy.cutAfter('up', 2 * MIB, 3);
      await connector.uploadVhd(source, 'cut.vhd', { concurrency: 2 });
      expect(proxy.cuts).toBe(3);
      const downloaded = path.join(dir, 'cut.vhd');
      await connector.downloadBlob('cut.vhd', downloaded);
      await compareWithSource(downloaded, source);
    } finally {
      await proxy.stop();
    }
  });

  it('uploads through a container SAS with the permissions it needs', async () => {
    const sas = containerSas(azurite, 'images', 'racwdl', new Date(Date.now() + 3600_000));
    const connector = azuriteConnector(azurite, armSettings(arm), {
      clientSecret: ARM_SECRET,
      storageSas: sas,
    });
    await connector.uploadVhd(source, 'sas.vhd');
    expect(await connector.hasBlob('sas.vhd')).toBe(true);
    expect(storageChecks(await connector.test())).toEqual([
      { field: 'storageAccount', ok: true, message: "storage account 'devstoreaccount1' answers" },
      { field: 'container', ok: true, message: expect.stringContaining('is writable') },
    ]);
  });
});

describe('page blob upload refusals', () => {
  it('names a SAS without write permission, and writes nothing', async () => {
    const sas = containerSas(azurite, 'images', 'rl', new Date(Date.now() + 3600_000));
    const connector = azuriteConnector(azurite, armSettings(arm), {
      clientSecret: ARM_SECRET,
      storageSas: sas,
    });
    const failure = connector.uploadVhd(source, 'readonly.vhd');
    await expect(failure).rejects.toThrow(AzureStorageError);
    await expect(failure).rejects.toThrow("lacks permissions 'cwd' (it has sp=rl)");
    expect(await container.getBlobClient('readonly.vhd').exists()).toBe(false);
    expect(storageChecks(await connector.test()).filter((c) => !c.ok)).toEqual([
      { field: 'storageSas', ok: false, message: expect.stringContaining("lacks permissions 'cwd'") },
      { field: 'container', ok: false, message: 'not checked: the storage credential was refused' },
    ]);
  });

  it('names an expired SAS', async () => {
    const expired = new Date(Date.now() - 60_000);
    const sas = containerSas(azurite, 'images', 'racwdl', expired);
    const connector = azuriteConnector(azurite, {}, { storageSas: sas });
    await expect(connector.uploadVhd(source, 'expired.vhd')).rejects.toThrow(
      /the storage SAS token expired at .*: give the connector a new one for container 'images'/,
    );
  });

  it('names a wrong account key as refused by the account', async () => {
    const connector = azuriteConnector(
      azurite,
      {},
      { storageKey: Buffer.from('not the key').toString('base64') },
    );
    await expect(connector.uploadVhd(source, 'badkey.vhd')).rejects.toThrow(
      /the storage account refused the connector's credential for container 'images'/,
    );
  });

  it('names a container that does not exist, in Test and upload', async () => {
    const connector = azuriteConnector(
      azurite,
      { ...armSettings(arm), container: 'missing-container' },
      { clientSecret: ARM_SECRET, storageKey: azurite.accountKey },
    );
    await expect(connector.uploadVhd(source, 'x.vhd')).rejects.toThrow(
      "container 'missing-container' of storage account 'devstoreaccount1' does not exist",
    );
    expect(storageChecks(await connector.test())).toEqual([
      { field: 'storageAccount', ok: true, message: "storage account 'devstoreaccount1' answers" },
      { field: 'container', ok: false, message: expect.stringContaining('does not exist') },
    ]);
  });

  it('refuses a corrupt source disk before creating a blob', async () => {
    const corrupt = path.join(dir, 'corrupt.vhdx');
    fs.copyFileSync(source, corrupt);
    const fd = fs.openSync(corrupt, 'r+');
    // Both copies of the VHDX region table (at 192 and 256 KiB): the reader finds no BAT it can trust.
    for (const at of [192 * 1024, 256 * 1024]) fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, at);
    fs.closeSync(fd);
    const connector = azuriteConnector(azurite);
    await expect(connector.uploadVhd(corrupt, 'corrupt.vhd')).rejects.toThrow(DiskFormatError);
    expect(await container.getBlobClient('corrupt.vhd').exists()).toBe(false);
  });
});

/** The storage side of a Test: the account, the container and the storage credential (resource-manager.test.ts checks the rest). */
function storageChecks(checks: ConnectorCheck[]): ConnectorCheck[] {
  return checks.filter((c) =>
    ['storageAccount', 'container', 'storageSas', 'storageKey'].includes(c.field ?? ''),
  );
}
