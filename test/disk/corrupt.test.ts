/** Each kind of bad input the issue lists, one by one: the error must name the file, the structure and the offset. */
import { execFileSync } from 'node:child_process';
import { openDisk } from '../../disk/open';
import { DiskFormatError } from '../../disk/errors';
import { KIB, laminaImage, makeSource, reseal, writeSparse, readEverything } from './corrupt-fixtures';
import { MIB, scratchDir } from './helpers';

const scratch = scratchDir('corrupt');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

/** Builds a Lamina image of `format`, lets `damage` change it, and expects opening+reading it to fail with `message`. */
async function expectRejected(
  format: 'vhd' | 'vhd-fixed' | 'vhdx' | 'vmdk' | 'vmdk-stream',
  damage: (image: Buffer) => Buffer | void,
  message: RegExp,
  resealed = true,
) {
  const image = await laminaImage(source, format, scratch.file(`base.${format}`));
  const damaged = damage(image) ?? image;
  if (resealed) reseal(format, damaged);
  const file = scratch.file(`bad.${format}`);
  writeSparse(file, damaged);
  const failure = await readEverything(file).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(DiskFormatError);
  expect((failure as Error).message).toMatch(message);
  expect((failure as Error).message.startsWith(`${file}: `)).toBe(true);
}

describe('VHD', () => {
  test('bad footer checksum', () =>
    expectRejected(
      'vhd',
      (b) => void (b[b.length - 512 + 40] ^= 1),
      /VHD footer at offset \d+: checksum/,
      false,
    ));
  test('wrong dynamic header cookie', () =>
    expectRejected(
      'vhd',
      (b) => void b.write('cxspars!', 512, 'latin1'),
      /VHD dynamic header at offset 512: cookie/,
    ));
  test('differencing disk that names no parent', () =>
    expectRejected(
      'vhd',
      (b) => {
        b.writeUInt32BE(4, 60);
        b.writeUInt32BE(4, b.length - 512 + 60);
      },
      /VHD dynamic header at offset \d+: names no parent file/,
    ));
  test('BAT entry past the end of the file', () =>
    expectRejected(
      'vhd',
      (b) => void b.writeUInt32BE(0x00ffffff, 1536),
      /VHD BAT entry 0 at offset 1536: .*past the end/,
    ));
  test('two BAT entries on the same block', () =>
    expectRejected(
      'vhd',
      (b) => void b.writeUInt32BE(b.readUInt32BE(1536), 1536 + 4),
      /VHD BAT entry \d at offset \d+: .*overlaps/,
    ));
  test('absurd size', () =>
    expectRejected(
      'vhd',
      (b) => void b.writeBigUInt64BE(1n << 50n, b.length - 512 + 48),
      /VHD footer at offset \d+: absurd disk size/,
    ));
  test('truncated (footer gone)', () =>
    expectRejected(
      'vhd',
      (b) => b.subarray(0, b.length - 700),
      /VHD footer at offset \d+: (cookie|checksum)|VHD BAT/,
      false,
    ));
  test('fixed VHD claiming more data than the file holds', () =>
    expectRejected(
      'vhd-fixed',
      (b) => void b.writeBigUInt64BE(BigInt(b.length), b.length - 512 + 48),
      /VHD footer at offset \d+: disk size \d+ exceeds/,
    ));
});

describe('VHDX', () => {
  test('both headers with bad CRC-32C', () =>
    expectRejected(
      'vhdx',
      (b) => {
        b[64 * KIB + 100] ^= 1;
        b[128 * KIB + 100] ^= 1;
      },
      /VHDX header at offset 65536: no valid header: CRC-32C/,
      false,
    ));
  test('one damaged header is survived: the other is current', async () => {
    const image = await laminaImage(source, 'vhdx', scratch.file('one-header.vhdx'));
    image[128 * KIB + 100] ^= 1;
    writeSparse(scratch.file('one-header.vhdx'), image);
    await expect(readEverything(scratch.file('one-header.vhdx'))).resolves.toBeUndefined();
  });
  test('wrong region table signature in both copies', () =>
    expectRejected(
      'vhdx',
      (b) => {
        b.write('rego', 192 * KIB);
        b.write('rego', 256 * KIB);
      },
      /VHDX region table at offset 196608: neither copy/,
    ));
  test('differencing disk (HasParent) without a parent locator', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeUInt32LE(2, 2 * MIB + 64 * KIB + 4),
      /VHDX file parameters at offset \d+: HasParent is set but there is no parent locator/,
    ));
  test('absurd virtual size', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeBigUInt64LE(1n << 60n, 2 * MIB + 64 * KIB + 8),
      /VHDX virtual disk size at offset \d+: absurd size/,
    ));
  test('BAT entry past the end of the file', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeBigUInt64LE((4096n << 20n) | 6n, 3 * MIB),
      /VHDX BAT entry 0 at offset 3145728: .*past the end/,
    ));
  test('BAT entry on the file header', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeBigUInt64LE(6n, 3 * MIB),
      /VHDX BAT entry 0 at offset 3145728: .*overlaps the file header/,
    ));
  test('BAT entry on the metadata region', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeBigUInt64LE((2n << 20n) | 6n, 3 * MIB),
      /VHDX BAT entry 0 at offset 3145728: .*overlaps the metadata region/,
    ));
  test('two BAT entries on the same block', () =>
    expectRejected(
      'vhdx',
      (b) => void b.writeBigUInt64LE(b.readBigUInt64LE(3 * MIB), 3 * MIB + 8),
      /VHDX BAT entry \d at offset \d+: .*overlaps the block/,
    ));
  test('truncated inside the first block', () =>
    expectRejected('vhdx', (b) => b.subarray(0, 5 * MIB), /VHDX BAT entry 0 at offset \d+: .*past the end/));
});

describe('VMDK', () => {
  test('absurd capacity', () =>
    expectRejected(
      'vmdk',
      (b) => void b.writeBigUInt64LE(1n << 50n, 12),
      /VMDK sparse header at offset 12: absurd capacity/,
    ));
  test('grain directory past the end of the file', () =>
    expectRejected(
      'vmdk',
      (b) => void b.writeBigUInt64LE(1n << 30n, 56),
      /VMDK sparse header at offset 56: grain directory/,
    ));
  test('truncated before the grains', () =>
    expectRejected(
      'vmdk',
      (b) => b.subarray(0, 70 * KIB),
      /VMDK grain table entry \d+ at offset \d+: .*past the end/,
    ));
  test('child disk whose parent is gone (made by qemu-img)', async () => {
    const parent = scratch.file('parent.vmdk');
    const child = scratch.file('child.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', parent, '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', parent, '-F', 'vmdk', child]);
    await (await openDisk(child)).close();
    execFileSync('rm', [parent]);
    await expect(openDisk(child)).rejects.toThrow(
      /VMDK descriptor at offset 512: parent ".*parent\.vmdk" not found/,
    );
  });
  test('streamOptimized footer missing (truncated)', () =>
    expectRejected(
      'vmdk-stream',
      (b) => b.subarray(0, b.length - 1024),
      /VMDK (footer|sparse header) at offset \d+/,
    ));
  test('streamOptimized grain with corrupt deflate data', () =>
    expectRejected(
      'vmdk-stream',
      (b) => void b.fill(0xff, 64 * KIB + 16, 64 * KIB + 64),
      /VMDK grain marker for grain 0 at offset \d+: deflate data is corrupt/,
    ));
});
