import fs from 'node:fs';
import type { HarnessHandles } from './shared';

export default async function globalTeardown(): Promise<void> {
  const handles = (globalThis as { laminaHarness?: HarnessHandles }).laminaHarness;
  if (!handles) return;
  for (const stop of handles.stops.reverse()) await stop();
  fs.rmSync(handles.root, { recursive: true, force: true });
}
