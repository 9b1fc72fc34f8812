import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readFileSet, replaceFileSet } from '../../lib/file-set';
import { projectRoot } from '../../lib/project-root';
import { testDir } from '../harness';

const NAMES = ['ElasticLayerAssignment.json', 'Layers.json', 'MachineAssociations.json'];

/** A set whose files all carry `generation`, large enough that writing it takes a while. */
function setOf(generation: number): Record<string, string> {
  const padding = 'x'.repeat(2 * 2 ** 20);
  return Object.fromEntries(NAMES.map((name) => [name, JSON.stringify({ generation, name, padding })]));
}

const generationsIn = (files: Record<string, Buffer>) =>
  NAMES.map((name) =>
    files[name] ? (JSON.parse(files[name].toString()) as { generation: number }).generation : -1,
  );

describe('files replaced as one set (lib/file-set)', () => {
  it('is read as the old set or the new set whenever the writer is killed with SIGKILL', async () => {
    const dir = testDir('file-set');
    await replaceFileSet(dir, setOf(0));
    // A writer process replacing the set over and over, from generation `base` on, saying when each set is in.
    const writer = (base: number) => `
      const { replaceFileSet } = require(${JSON.stringify(path.join(projectRoot(), 'dist', 'lib', 'file-set.js'))});
      const padding = 'x'.repeat(2 * 2 ** 20);
      const names = ${JSON.stringify(NAMES)};
      (async () => {
        for (let generation = ${base}; ; generation++) {
          await replaceFileSet(${JSON.stringify(dir)}, Object.fromEntries(names.map((name) => [name, JSON.stringify({ generation, name, padding })])));
          process.stdout.write('in\\n');
        }
      })();`;
    const seen: number[] = [];
    for (let round = 1; round <= 12; round++) {
      const child = spawn(process.execPath, ['-e', writer(round * 100)], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      // Killed after 0 to 3 complete sets, at whatever instruction of the next one it is then.
      let sets = 0;
      await new Promise<void>((resolve) => {
        if (round % 4 === 0) resolve();
        child.stdout!.on('data', (chunk: Buffer) => {
          sets += chunk.toString().split('\n').length - 1;
          if (sets >= round % 4) resolve();
        });
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const generations = generationsIn(await readFileSet(dir, NAMES));
      // One generation in all three files, whatever instruction the kill hit.
      expect(new Set(generations).size).toBe(1);
      expect(generations[0]).toBeGreaterThanOrEqual(0);
      seen.push(generations[0]);
    }
    // The next writer finishes or discards what the killed one left: only the set remains.
    await replaceFileSet(dir, setOf(1000));
    expect(generationsIn(await readFileSet(dir, NAMES))).toEqual([1000, 1000, 1000]);
    expect(fs.readdirSync(dir).sort()).toEqual([...NAMES].sort());
    // The kills landed at different points of the writer's work.
    expect(new Set(seen).size).toBeGreaterThan(1);
  }, 120_000);

  it('finishes a replacement committed before a kill, and drops one staged but not committed', async () => {
    const dir = testDir('file-set');
    await replaceFileSet(dir, setOf(1));
    // Committed, then killed after the first rename: the journal names the set, two files still staged.
    for (const name of NAMES) fs.writeFileSync(path.join(dir, `.${name}.next`), setOf(2)[name]);
    fs.writeFileSync(path.join(dir, '.file-set-commit'), JSON.stringify(NAMES));
    fs.renameSync(path.join(dir, `.${NAMES[0]}.next`), path.join(dir, NAMES[0]));
    expect(generationsIn(await readFileSet(dir, NAMES))).toEqual([2, 2, 2]);
    await replaceFileSet(dir, setOf(3));
    expect(generationsIn(await readFileSet(dir, NAMES))).toEqual([3, 3, 3]);

    // Staged, killed before the commit: the old set stands and the next writer removes the staged files.
    for (const name of NAMES) fs.writeFileSync(path.join(dir, `.${name}.next`), setOf(4)[name]);
    expect(generationsIn(await readFileSet(dir, NAMES))).toEqual([3, 3, 3]);
    await replaceFileSet(dir, setOf(5));
    expect(fs.readdirSync(dir).sort()).toEqual([...NAMES].sort());
  });

  it('refuses names that are not plain file names', async () => {
    await expect(replaceFileSet(testDir('file-set'), { '../escape.json': '{}' })).rejects.toThrow(
      "'../escape.json' is not a plain file name",
    );
  });
});
