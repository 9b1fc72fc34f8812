/** `lamina disk info` and `lamina disk convert` through the CLI entry point, including failures. */
import { readdirSync, existsSync } from 'node:fs';
import { main } from '../../cli/main';
import { laminaImage, makeSource, writeSparse, KIB } from './corrupt-fixtures';
import { qemuImg, scratchDir } from './helpers';

const scratch = scratchDir('cli');
const source = scratch.file('source.raw');
beforeAll(() => makeSource(source));
afterAll(() => scratch.cleanup());

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

test('lamina --help lists the disk command', async () => {
  expect((await run('--help')).out).toMatch(/disk\s+Inspect and convert/);
});

test('disk convert writes OUT that qemu-img finds identical, and disk info describes it', async () => {
  const out = scratch.file('out.vhdx');
  const converted = await run('disk', 'convert', source, out, '--to', 'vhdx');
  expect(converted).toMatchObject({ code: 0, err: '' });
  expect(qemuImg(['compare', '-f', 'raw', '-F', 'vhdx', source, out]).status).toBe(0);
  const info = await run('disk', 'info', out, '--json');
  expect(info.code).toBe(0);
  expect(JSON.parse(info.out)).toMatchObject({
    format: 'vhdx',
    virtualSize: 40 * 1024 * KIB,
    partitionTable: null,
  });
  expect((await run('disk', 'info', out)).out).toMatch(/format:\s+vhdx/);
});

test('a conversion that fails half-way leaves neither OUT nor a temporary file', async () => {
  const stream = await laminaImage(source, 'vmdk-stream', scratch.file('good.vmdk'));
  // Damage the deflate data of a grain in the middle of the stream: found only while copying.
  const grainAt = stream.indexOf(Buffer.from('789c', 'hex'), 64 * KIB + 200);
  stream.fill(0xee, grainAt + 2, grainAt + 40);
  const bad = scratch.file('bad.vmdk');
  writeSparse(bad, stream);
  const before = readdirSync(scratch.dir).length;
  const out = scratch.file('never.vhd');
  const result = await run('disk', 'convert', bad, out, '--to', 'vhd');
  expect(result.code).toBe(1);
  expect(result.err).toMatch(
    /bad\.vmdk: VMDK grain marker for grain \d+ at offset \d+: deflate data is corrupt/,
  );
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(scratch.dir)).toHaveLength(before);
});

test('usage errors exit 2 with a message', async () => {
  expect(await run('disk', 'convert', source, scratch.file('x'), '--to', 'qcow2')).toMatchObject({
    code: 2,
    err: expect.stringMatching(/--to must be one of raw, vhd, vhd-fixed, vhdx, vmdk, vmdk-stream/),
  });
  expect(await run('disk', 'convert', source, source, '--to', 'raw')).toMatchObject({
    code: 2,
    err: expect.stringMatching(/same file/),
  });
  expect((await run('disk', 'frobnicate')).code).toBe(2);
});
