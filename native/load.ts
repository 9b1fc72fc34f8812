import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Loads a native addon target of native/binding.gyp. The addons are built by
 * `npm run build:native` into native/build/Release, found from the package root so the same
 * code works from the sources (ts-jest) and from dist/.
 */
export function loadNativeAddon<T>(target: string): T {
  const file = path.join(packageRoot(), 'native', 'build', 'Release', `${target}.node`);
  if (!existsSync(file)) {
    throw new Error(`native addon ${target} is not built (${file} is missing): run npm run build:native`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

export function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
}
