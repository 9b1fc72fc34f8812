import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Test helpers that look at hives through hivex's own tools, not through our code. */

export function makeTempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lamina-registry-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `hivexregedit --export` of the whole hive, keys prefixed with `mount` (e.g.
 * HKEY_LOCAL_MACHINE\SOFTWARE), as a map from key to its value lines.
 */
export function exportHive(hivePath: string, mount: string, printableStrings = false): Map<string, string[]> {
  const args = [
    '--export',
    '--prefix',
    mount,
    ...(printableStrings ? ['--unsafe-printable-strings'] : []),
    hivePath,
    '\\',
  ];
  const text = execFileSync('hivexregedit', args, { encoding: 'latin1' });
  const keys = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('[')) {
      current = [];
      keys.set(line.slice(1, -1).replace(/\\$/, ''), current);
    } else if (line !== '' && current) {
      current.push(line);
    }
  }
  return keys;
}

/** How hivexregedit prints a value: dword: for 4-byte REG_DWORD, hex(type): for everything else. */
export function hivexValueLine(name: string, type: number, data: Buffer): string {
  const shownName = name === '' ? '@' : `"${name}"`;
  if (type === 4 && data.length === 4)
    return `${shownName}=dword:${data.readUInt32LE().toString(16).padStart(8, '0')}`;
  return `${shownName}=hex(${type.toString(16)}):${[...data].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
}

/** Name of the hive's root key, read through hivex's Perl binding. */
export function rootKeyName(hivePath: string): string {
  return execFileSync(
    'perl',
    ['-MWin::Hivex', '-e', 'my $h = Win::Hivex->open($ARGV[0]); print $h->node_name($h->root())', hivePath],
    { encoding: 'utf8' },
  );
}

/** Runs hivexsh commands against a hive; throws if hivexsh fails (e.g. the file is no hive). */
export function hivexsh(hivePath: string, commands: string[], writable = false): string {
  // A script file rather than stdin: hivexsh exits early on a bad hive and stdin would break.
  const script = `${hivePath}.hivexsh`;
  writeFileSync(script, `${commands.join('\n')}\n`);
  try {
    return execFileSync('hivexsh', [...(writable ? ['-w'] : []), '-f', script, hivePath], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    rmSync(script);
  }
}
