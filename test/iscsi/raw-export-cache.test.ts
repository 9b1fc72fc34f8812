import fs from 'node:fs';
import path from 'node:path';
import { testDir } from '../harness';
import { MIB, qemuImg } from '../disk/helpers';
import { deriveChapCredentials, RawExportCache } from '../../iscsi';
import { INITIATOR, makeLayer, testTargets, tgtadmShow, type TestLayer } from './helpers';

/**
 * The raw exports tgtd serves for VHDX layers: converted once per layer hash, equal to the layer's
 * virtual disk (qemu-img compare), sparse, and bounded by allocated bytes with least-recently-used
 * eviction that never removes an export a live target serves.
 */
describe('raw export cache', () => {
  let dir: string;
  let layers: TestLayer[];

  beforeAll(() => {
    dir = testDir('iscsi-cache');
    // Three layers of 8 MiB of data each in a 64 MiB disk.
    layers = ['a', 'b', 'c'].map((label) =>
      makeLayer(dir, label, 64 * MIB, [
        { offset: 0, length: 4 * MIB },
        { offset: 32 * MIB, length: 4 * MIB },
      ]),
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('converts a layer once to a sparse raw file equal to its virtual disk, reused by later holds', async () => {
    const cache = new RawExportCache(path.join(testDir('iscsi-cache-once'), 'exports'), 1024 * MIB);
    const first = await cache.acquire(layers[0]);
    expect(first.file).toBe(path.join(cache.dir, `${layers[0].sha256}.raw`));
    expect(first.virtualSize).toBe(64 * MIB);
    expect(qemuImg(['compare', '-f', 'vhdx', '-F', 'raw', layers[0].path, first.file])).toEqual({
      status: 0,
      output: 'Images are identical.\n',
    });
    const [entry] = await cache.entries();
    expect(entry.allocatedBytes).toBeLessThan(64 * MIB);
    expect(entry.allocatedBytes).toBeGreaterThanOrEqual(8 * MIB);

    const inode = fs.statSync(first.file).ino;
    const second = await cache.acquire(layers[0]);
    expect(second.file).toBe(first.file);
    expect(fs.statSync(second.file).ino).toBe(inode);
    first.release();
    second.release();
  });

  it('evicts the least recently used unheld export to stay within its bound', async () => {
    const cache = new RawExportCache(path.join(testDir('iscsi-cache-lru'), 'exports'), 1024 * MIB);
    const [a, b] = [await cache.acquire(layers[0]), await cache.acquire(layers[1])];
    const perExport = (await cache.entries())[0].allocatedBytes;
    a.release();
    b.release();
    // Room for two exports: the third pushes out the least recently used (a).
    const bounded = new RawExportCache(cache.dir, 2 * perExport);
    (await bounded.acquire(layers[2])).release();
    expect((await bounded.entries()).map((e) => e.sha256)).toEqual([layers[1].sha256, layers[2].sha256]);

    // b used again: now c is the oldest, and a's return evicts c.
    (await bounded.acquire(layers[1])).release();
    (await bounded.acquire(layers[0])).release();
    expect((await bounded.entries()).map((e) => e.sha256).sort()).toEqual(
      [layers[0].sha256, layers[1].sha256].sort(),
    );
  });

  it('never removes an export that is held, and shrinks back to the bound once it is released', async () => {
    const cache = new RawExportCache(path.join(testDir('iscsi-cache-held'), 'exports'), 1);
    const held = [await cache.acquire(layers[0]), await cache.acquire(layers[1])];
    // Over the bound while both are served.
    expect((await cache.entries()).map((e) => e.sha256).sort()).toEqual(
      [layers[0].sha256, layers[1].sha256].sort(),
    );
    held[0].release();
    await cache.trim();
    expect((await cache.entries()).map((e) => e.sha256)).toEqual([layers[1].sha256]);
    held[1].release();
    held[1].release(); // a second release is a no-op
    await cache.trim();
    expect(await cache.entries()).toEqual([]);
  });

  it('refuses a hash that is not a SHA-256, and a file that is no disk, leaving nothing', async () => {
    const cache = new RawExportCache(path.join(testDir('iscsi-cache-bad'), 'exports'), 1024 * MIB);
    await expect(cache.acquire({ path: layers[0].path, sha256: 'ABC' })).rejects.toThrow(
      "layer hash 'ABC' is not a SHA-256 in lowercase hex",
    );
    const missing = path.join(dir, 'missing.vhdx');
    await expect(cache.acquire({ path: missing, sha256: 'f'.repeat(64) })).rejects.toThrow(
      /ENOENT|no such file/,
    );
    expect(fs.existsSync(cache.dir) ? fs.readdirSync(cache.dir) : []).toEqual([]);
  });

  it('after targets are removed, no target is left and the exports fit the bound', async () => {
    const targetsDir = testDir('iscsi-cache-targets');
    const perExport = 8 * MIB;
    const { targets, controlPort, cache } = await testTargets(targetsDir, perExport);
    const key = Buffer.alloc(32, 3);
    const names = ['task-one', 'task-two'];
    for (const [index, name] of names.entries()) {
      await targets.create({
        name,
        layers: [layers[index], layers[2]],
        initiatorName: INITIATOR,
        chap: deriveChapCredentials(key, name, 'initiator'),
      });
    }
    // Three exports served at once: over the 8 MiB bound, none removed.
    expect((await cache.entries()).length).toBe(3);
    for (const name of names) await targets.remove(name);
    expect(tgtadmShow(controlPort)).toBe('');
    const left = await cache.entries();
    expect(left.reduce((sum, e) => sum + e.allocatedBytes, 0)).toBeLessThanOrEqual(perExport);
    await targets.close();
    fs.rmSync(targetsDir, { recursive: true, force: true });
  });
});
