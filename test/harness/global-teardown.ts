import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { HarnessHandles } from './shared';

export default async function globalTeardown(): Promise<void> {
  const handles = (globalThis as { laminaHarness?: HarnessHandles }).laminaHarness;
  if (!handles) return;
  for (const stop of handles.stops.reverse()) await stop();
  // Folders tests mounted (file share stand-ins), deepest first, so the root can be removed.
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint) => mountPoint?.startsWith(`${handles.root}/`))
    .reverse();
  for (const mountPoint of mounts) execFileSync('umount', [mountPoint]);
  fs.rmSync(handles.root, { recursive: true, force: true });
}
