import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { OUTPUT_FORMATS } from '../../compositor/disk-image';
import { makeOsAndAppLayer } from './fixtures';
import { composeImage, removeDir, run, runStatus, scratchDir, sha256 } from './tools';

/**
 * Every output format holds the same disk (qemu-img compares each with the raw composition) and
 * is reproducible.
 */

const QEMU_FORMAT: Record<string, string> = {
  raw: 'raw',
  vhd: 'vpc',
  'vhd-fixed': 'vpc',
  vhdx: 'vhdx',
  vmdk: 'vmdk',
  'vmdk-stream': 'vmdk',
};

let dir: string;
let os: string;
let app: string;

beforeAll(async () => {
  dir = scratchDir('formats');
  ({ os, app } = await makeOsAndAppLayer(dir, __dirname));
}, 300_000);

afterAll(() => removeDir(dir));

function composeTo(format: string): Promise<string> {
  return composeImage(
    path.join(dir, `image.${format}`),
    ...['--os', os, '--app', app, '--size-gib', '0.5', '--firmware', 'bios', '--format', format],
  );
}

it.each(OUTPUT_FORMATS.filter((f) => f !== 'raw'))(
  '%s holds the same disk as raw, reproducibly',
  async (format) => {
    const reference = path.join(dir, 'image.raw');
    if (runStatus('test', ['-f', reference]).status !== 0) await composeTo('raw');
    const image = await composeTo(format);
    const info = JSON.parse(run('qemu-img', ['info', '--output=json', '-f', QEMU_FORMAT[format], image])) as {
      format: string;
    };
    expect(info.format).toBe(QEMU_FORMAT[format]);
    // qemu-img checks only these formats' metadata (63 = not supported for the format).
    if (['vhdx', 'vmdk'].includes(format))
      expect(runStatus('qemu-img', ['check', '-f', QEMU_FORMAT[format], image]).status).toBe(0);
    const compare = runStatus('qemu-img', [
      'compare',
      '-f',
      'raw',
      '-F',
      QEMU_FORMAT[format],
      reference,
      image,
    ]);
    expect(compare.output).toContain('Images are identical');

    // Same inputs, same bytes (under the same name: a VMDK descriptor names its own file).
    const first = sha256(image);
    rmSync(image);
    expect(sha256(await composeTo(format))).toBe(first);
  },
);
