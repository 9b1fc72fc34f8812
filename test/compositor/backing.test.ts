import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { MiB } from '../../compositor/disk-layout';
import { goldTree } from '../../compositor/gold-image';
import { createLayerDisk } from '../../compositor/layer-disk';
import { applyToVolume } from '../../compositor/volume';
import { createEmptyHive, HIVE_NAMES, type HiveName } from '../../registry';
import {
  composeImage,
  cutPartition,
  ntfsfixClean,
  ntfsList,
  removeDir,
  run,
  scratchDir,
  toRaw,
} from './tools';

/**
 * A converted compose (raw, vhd-fixed, vmdk-stream) does not clone the OS volume: its work image
 * reads through to the OS layer (compositor/backed-image.ts, native/ntfs/backing.c). What shows
 * through must be exactly what the clone of the in-place formats copies: the OS volume's clusters
 * in use, never the old bytes its free space still holds.
 */

let dir: string;
let os: string;
/**
 * Bytes of a file the OS layer wrote and then deleted: still in its free space, between two files
 * in use (so close to them that the conversion reads them along, and must blank them).
 */
const STALE = Buffer.alloc(256 * 1024, 'lamina-stale-free-space-');

beforeAll(async () => {
  dir = scratchDir('backing');
  const hives = {} as Record<HiveName, Buffer>;
  for (const hive of HIVE_NAMES) {
    await createEmptyHive(path.join(dir, hive), hive);
    hives[hive] = await fs.readFile(path.join(dir, hive));
  }
  os = path.join(dir, 'os.vhdx');
  const work = await fs.mkdtemp(path.join(dir, 'layer-'));
  await createLayerDisk(os, work, 128 * MiB, {
    write: async (partition) => {
      await applyToVolume(partition, [
        ...goldTree(hives),
        { op: 'file', path: '\\Windows\\Temp\\setup.log', content: STALE },
        { op: 'file', path: '\\Windows\\Temp\\kept.log', content: Buffer.alloc(64 * 1024, 'kept') },
      ]);
      await applyToVolume(partition, [{ op: 'delete', path: '\\Windows\\Temp\\setup.log' }]);
    },
    metadata: (contentHash) => ({
      schema: 1,
      id: 'backing-os',
      name: 'BackingOS',
      type: 'os',
      version: '1',
      creationSequence: 0,
      createdAt: '2025-01-01T00:00:00.000Z',
      contentHash,
    }),
  });
}, 300_000);

afterAll(() => removeDir(dir));

function compose(format: string): Promise<string> {
  return composeImage(
    path.join(dir, `image.${format}`),
    ...['--os', os, '--size-gib', '0.25', '--firmware', 'bios', '--format', format],
  );
}

it('the OS layer itself still holds the deleted file’s bytes (so the checks below can fail)', () => {
  const raw = toRaw(os, path.join(dir, 'os.raw'));
  expect(readFileSync(raw).includes(STALE.subarray(0, 4096))).toBe(true);
});

it.each(['raw', 'vmdk-stream'])(
  '%s shows the OS volume’s clusters in use, as the clone into vhdx copies them',
  async (format) => {
    const inPlace = path.join(dir, 'image.vhdx');
    await fs.access(inPlace).catch(() => compose('vhdx'));
    const converted = await compose(format);
    const compared = run('qemu-img', [
      'compare',
      '-f',
      'vhdx',
      '-F',
      format === 'raw' ? 'raw' : 'vmdk',
      inPlace,
      converted,
    ]);
    expect(compared).toContain('Images are identical');
    const raw = format === 'raw' ? converted : toRaw(converted, path.join(dir, `${format}.raw`));
    expect(readFileSync(raw).includes(STALE.subarray(0, 4096))).toBe(false);
    const volume = cutPartition(raw, 0, path.join(dir, `${format}.ntfs`));
    expect(ntfsfixClean(volume)).toBe(true);
    expect(ntfsList(volume, '/Windows')).toContain('System32');
  },
  300_000,
);
