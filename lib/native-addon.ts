import { existsSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from './project-root';

/**
 * Loads a native addon target of native/binding.gyp. The addons are built by
 * `npm run build:native` into native/build/Release, found from the project root so the same
 * code works from the sources (ts-jest) and from dist/. It lives in lib/ because disk/, registry/
 * and compositor/ all load addons, and they sit below native/'s C sources in the layer order.
 */
export function loadNativeAddon<T>(target: string): T {
  const file = nativeBuildPath(`${target}.node`);
  if (!existsSync(file)) {
    throw new Error(`native addon ${target} is not built (${file} is missing): run npm run build:native`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

/** A file the native build produced (an addon, or the compositor's executable). */
export function nativeBuildPath(name: string): string {
  return path.join(projectRoot(), 'native', 'build', 'Release', name);
}
