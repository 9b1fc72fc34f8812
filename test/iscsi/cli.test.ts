import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../lib/processes';
import { projectRoot } from '../../lib/project-root';
import { testDir } from '../harness';
import { MIB } from '../disk/helpers';
import {
  controlPortFor,
  INITIATOR,
  libiscsi,
  makeLayer,
  qemuCompareLun,
  tgtadmShow,
  type TestLayer,
} from './helpers';

/**
 * `lamina iscsi serve` as a user runs it (the compiled CLI, a process of its own): it prints the IQN and
 * LUN map, serves until Ctrl-C (SIGINT), and then leaves no target and no tgtd behind.
 */
describe('lamina iscsi serve', () => {
  let dir: string;
  let layers: TestLayer[];
  const chap = { user: 'cli-user', secret: 'cli-secret-0123' };

  beforeAll(() => {
    dir = testDir('iscsi-cli');
    layers = [
      makeLayer(dir, 'os', 32 * MIB, [{ offset: MIB, length: 2 * MIB }]),
      makeLayer(dir, 'app', 16 * MIB, [{ offset: 0, length: 512 * 1024, fill: 'text' }]),
    ];
  });
  const children: ChildProcess[] = [];
  // A test that failed half-way still stops its server, which removes its target and tgtd.
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function lamina(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [path.join(projectRoot(), 'bin', 'lamina'), 'iscsi', ...args], {
      env: { ...process.env, LAMINA_DATA_DIR: path.join(dir, 'data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return child;
  }

  /** Collects the child's stdout until `pattern` shows up in it. */
  function output(child: ChildProcess, pattern: RegExp): Promise<string> {
    let text = '';
    return new Promise((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (pattern.test(text)) resolve(text);
      });
      child.once('exit', (code) => reject(new Error(`lamina iscsi serve exited (${code}) after:\n${text}`)));
    });
  }

  it('prints the IQN and LUN map, serves the layers, and tears everything down at Ctrl-C', async () => {
    const port = await freePort();
    const controlPort = controlPortFor(port);
    const child = lamina([
      'serve',
      ...layers.flatMap((layer) => ['--layer', layer.path]),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--control-port',
      String(controlPort),
      '--chap-user',
      chap.user,
      '--chap-secret',
      chap.secret,
      '--initiator',
      INITIATOR,
    ]);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const printed = await output(child, /serving; Ctrl-C stops\n/);

    const iqn = /^IQN: (\S+)$/m.exec(printed)?.[1];
    expect(iqn).toMatch(/^iqn\.2024-01\.org\.lamina-appliance:serve-[0-9a-f]{8}$/);
    expect(printed).toContain(`portal: 127.0.0.1:${port}`);
    expect(printed).toContain(`CHAP user: ${chap.user}`);
    expect(printed).not.toContain(chap.secret);
    expect(printed).toContain(`initiator: ${INITIATOR}`);
    for (const [index, layer] of layers.entries())
      expect(printed).toContain(`LUN ${index + 1}: ${layer.path} (`);

    for (const [index, layer] of layers.entries()) {
      const target = { port, iqn: iqn as string, lun: index + 1 };
      expect(qemuCompareLun(dir, target, chap, layer.path)).toEqual({
        status: 0,
        output: 'Images are identical.\n',
      });
    }
    expect(tgtadmShow(controlPort)).toContain(iqn);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    expect(tgtadmShow(controlPort)).toBe('');
    const tgtd = spawnSync('pgrep', ['-f', `tgtd -f -C ${controlPort} `], { encoding: 'utf8' });
    expect(tgtd.stdout).toBe('');
    expect(libiscsi('iscsi-inq', [], { port, iqn: iqn as string, lun: 1 }, chap).status).not.toBe(0);
  });

  it('makes and prints a one-time secret when none is given', async () => {
    const port = await freePort();
    const child = lamina([
      'serve',
      '--layer',
      layers[1].path,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--control-port',
      String(controlPortFor(port)),
    ]);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const printed = await output(child, /serving; Ctrl-C stops\n/);
    const secret = /^CHAP secret: (\S+) \(made for this run\)$/m.exec(printed)?.[1] as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{16}$/);
    const iqn = /^IQN: (\S+)$/m.exec(printed)?.[1] as string;
    const lun = { port, iqn, lun: 1 };
    expect(libiscsi('iscsi-inq', [], lun, { user: 'lamina-serve', secret }).status).toBe(0);
    // Any initiator name is admitted, but only with the secret.
    expect(
      libiscsi(
        'iscsi-inq',
        [],
        lun,
        { user: 'lamina-serve', secret },
        { initiator: 'iqn.2024-01.org.example:any' },
      ).status,
    ).toBe(0);
    const wrong = libiscsi('iscsi-inq', [], lun, { user: 'lamina-serve', secret: `${secret}x` });
    expect(wrong.output).toMatch(/Authentication failure/);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(tgtadmShow(controlPortFor(port))).toBe('');
  });

  it.each([
    [['serve'], '--layer is required (one per LUN)'],
    [['serve', '--layer', '/nonexistent/layer.vhdx'], '--layer /nonexistent/layer.vhdx: no such file'],
    [['serve', '--layer', 'x', '--chap-user', 'u'], '--chap-user and --chap-secret go together'],
    [
      ['serve', '--layer', 'x', '--chap-user', 'u', '--chap-secret', 'short'],
      'CHAP secret must be 12-255 characters',
    ],
    [['serve', '--layer', 'x', '--port', '70000'], '--port must be a whole number 1-65535'],
    [['serve', '--layer', 'x', '--control-port', '40000'], '--control-port must be a whole number 0-32767'],
    [['share'], "unknown sub-command 'share'; expected serve"],
  ])('refuses %j with a clear message (exit 2)', async (args, message) => {
    const child = lamina(args);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });
});
