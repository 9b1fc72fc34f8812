import fs from 'node:fs';
import path from 'node:path';
import { compose } from '../../compositor/compose';
import { imageSettingsRegistry } from '../../compositor/image-settings';
import { testDir } from '../harness';
import { makeOsAndAppLayer } from '../compositor/fixtures';
import { cutPartition, hiveExport, sha256, toRaw } from '../compositor/tools';

const MiB = 2 ** 20;
const IT_STAFF = 'S-1-5-21-1004336348-1177238915-682003330-2102';

/** A REG_MULTI_SZ's bytes as regedit's hex(7) list. */
const multiSzHex = (values: string[]) =>
  [...Buffer.from(`${values.join('\0')}\0\0`, 'utf16le')]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(',');

describe("the template's elastic layering and user-layer settings in the image's hives", () => {
  let dir: string;
  let layers: { os: string; app: string };

  beforeAll(async () => {
    dir = testDir('image-settings');
    const source = path.join(dir, 'app');
    fs.mkdirSync(path.join(source, 'Program Files', 'App'), { recursive: true });
    fs.writeFileSync(path.join(source, 'Program Files', 'App', 'app.txt'), 'app');
    layers = await makeOsAndAppLayer(dir, source);
  }, 120_000);

  const composed = async (name: string, settings?: Parameters<typeof compose>[0]['settings']) => {
    const out = path.join(dir, `${name}.vhdx`);
    await compose({
      os: layers.os,
      apps: [layers.app],
      size: 512 * MiB,
      firmware: 'bios',
      format: 'vhdx',
      out,
      settings,
    });
    return {
      out,
      volume: cutPartition(toRaw(out, path.join(dir, `${name}.raw`)), 0, path.join(dir, `${name}.ntfs`)),
    };
  };

  it('writes the elastic layer share, the user-layer mode, size and locations, and turns Windows Search off for Full', async () => {
    const { volume } = await composed('full', {
      elasticShare: '\\\\files\\elastic',
      userLayer: {
        mode: 'full',
        locations: [
          { sharePath: '\\\\it\\users', groups: [IT_STAFF] },
          { sharePath: '\\\\files\\users', groups: [] },
        ],
      },
    });
    const ulayer = hiveExport(volume, 'SOFTWARE', '\\Unidesk\\ULayer', dir);
    expect(ulayer).toContain('"RepositoryPath"=str(1):"\\\\files\\elastic"');
    expect(ulayer).toContain('"UserLayerMode"=str(1):"Full"');
    expect(ulayer).toContain('"DefaultUserLayerSizeInGb"=dword:0000000a');
    // Priority order, each with its groups as a REG_MULTI_SZ (hivexregedit prints it as hex(7)).
    expect(ulayer).toContain(
      `[\\Unidesk\\ULayer\\StorageLocations\\001]\n"Groups"=hex(7):${multiSzHex([IT_STAFF])}\n"Path"=str(1):"\\\\it\\users"`,
    );
    expect(ulayer).toContain(
      `[\\Unidesk\\ULayer\\StorageLocations\\002]\n"Groups"=hex(7):00,00,00,00\n"Path"=str(1):"\\\\files\\users"`,
    );
    expect(hiveExport(volume, 'SYSTEM', '\\ControlSet001\\Services\\WSearch', dir)).toContain(
      '"Start"=dword:00000004',
    );
  }, 120_000);

  it('leaves Windows Search alone for Office 365 user layers, and the hives untouched without settings', async () => {
    const { volume } = await composed('office', {
      userLayer: {
        mode: 'session_office365',
        locations: [{ sharePath: '\\\\o\\u', groups: [] }],
        sizeGb: 25,
      },
    });
    const ulayer = hiveExport(volume, 'SOFTWARE', '\\Unidesk\\ULayer', dir);
    expect(ulayer).toContain('"UserLayerMode"=str(1):"SessionOffice365"');
    expect(ulayer).toContain('"DefaultUserLayerSizeInGb"=dword:00000019');
    expect(ulayer).not.toContain('RepositoryPath');
    expect(() => hiveExport(volume, 'SYSTEM', '\\ControlSet001\\Services\\WSearch', dir)).toThrow();

    const plain = await composed('plain');
    expect(() => hiveExport(plain.volume, 'SOFTWARE', '\\Unidesk\\ULayer', dir)).toThrow();
    // Same inputs, same bytes; other settings, another image.
    expect(sha256((await composed('plain-again')).out)).toBe(sha256(plain.out));
  }, 180_000);

  it('refuses user layers without a storage location', () => {
    expect(() => imageSettingsRegistry({ userLayer: { mode: 'full', locations: [] } })).toThrow(
      'user layers need at least one storage location (System > Storage Locations)',
    );
    expect(imageSettingsRegistry({})).toBeUndefined();
  });
});
