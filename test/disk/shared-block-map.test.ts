import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { AllocatingWriter } from '../../disk/allocating-writer';
import { createDiskWriter } from '../../disk/open';
import { DiskFormat } from '../../disk/types';
import { copyVolumeData } from '../../compositor/volume';
import { makeRaw, MIB, QEMU, qemuImg, scratchDir } from './helpers';

/**
 * A block-mapped writer hands a window of its disk to another process: the compositor's NTFS
 * core (native/ntfs/mapped-device.c) writes there, then the writer takes the map back and
 * finishes the file. qemu-img reads the result.
 */

const DISK = 96 * MIB;
const WINDOW = { offset: 3 * MIB, size: 64 * MIB };
const MAPPED: DiskFormat[] = ['vhdx', 'vhd', 'vmdk'];

const scratch = scratchDir('shared-map');
afterAll(() => scratch.cleanup());

/** The window's content: data at three places, explicit zeros at a fourth, holes elsewhere. */
function makeVolume(file: string): void {
  makeRaw(file, WINDOW.size, [
    { offset: 0, length: MIB },
    { offset: 5 * MIB + 4096, length: 300 * 1024 },
    { offset: 20 * MIB, length: 8 * MIB, fill: 'zeros' },
    { offset: 63 * MIB, length: MIB, fill: 'text' },
  ]);
}

it.each(MAPPED)(
  '%s: what the core writes into the window lands at its place, and zeros take no blocks',
  async (format) => {
    const volume = scratch.file(`${format}.volume`);
    makeVolume(volume);
    const out = scratch.file(`image.${format}`);
    const map = scratch.file(`${format}.map`);
    const writer = await createDiskWriter(format, out, { virtualSize: DISK });
    expect(writer).toBeInstanceOf(AllocatingWriter);
    const shared = writer as AllocatingWriter;
    await shared.share(map, WINDOW);

    await copyVolumeData(volume, `mapped:${map}`);

    await shared.adoptShared(map);
    const table = Buffer.alloc(512, 0xa5);
    await shared.write(table, 0);
    await shared.finish();

    // The disk qemu must see: the table sector at 0, the volume at the window, zeros elsewhere.
    const expected = scratch.file(`${format}.expected.raw`);
    makeRaw(expected, DISK, []);
    const bytes = readFileSync(expected);
    table.copy(bytes, 0);
    readFileSync(volume).copy(bytes, WINDOW.offset);
    writeFileSync(expected, bytes);
    const compare = qemuImg(['compare', '-f', 'raw', '-F', QEMU[format].driver, expected, out]);
    expect(compare.output).toContain('Images are identical');
    if (format !== 'vhd') expect(qemuImg(['check', '-f', QEMU[format].driver, out]).status).toBe(0);

    // 3 MiB of data in a 96 MiB disk: the file holds the blocks with data, not the window (VHDX
    // blocks are 32 MiB and the data touches two; VHD's are 2 MiB, VMDK grains 64 KiB).
    expect(statSync(out).size).toBeLessThan(format === 'vhdx' ? 2 * 32 * MIB + 8 * MIB : 12 * MIB);
  },
);

it('a damaged map is refused with the volume named, and the disk file is left as it was', async () => {
  const volume = scratch.file('bad.volume');
  makeVolume(volume);
  const out = scratch.file('bad.vhdx');
  const map = scratch.file('bad.map');
  const writer = (await createDiskWriter('vhdx', out, { virtualSize: DISK })) as AllocatingWriter;
  await writer.share(map, WINDOW);
  const good = scratch.file('good.map');
  copyFileSync(map, good);
  const damaged = readFileSync(map);
  damaged.write('NOTAMAP!', 0, 'latin1');
  writeFileSync(map, damaged);

  await expect(copyVolumeData(volume, `mapped:${map}`)).rejects.toThrow(
    `mapped:${map}: cannot open for writing (Invalid argument)`,
  );
  await expect(writer.adoptShared(map)).rejects.toThrow('not a Lamina block map');
  // The map of another layout is refused too, rather than read as this disk's blocks.
  const other = (await createDiskWriter('vmdk', scratch.file('other.vmdk'), {
    virtualSize: DISK,
  })) as AllocatingWriter;
  await expect(other.adoptShared(good)).rejects.toThrow('block map of another disk layout');
  await other.abort();
  await writer.abort();
});
