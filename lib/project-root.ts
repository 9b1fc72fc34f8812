import fs from 'node:fs';
import path from 'node:path';

/** The folder holding Lamina's package.json, whether code runs from source (ts-jest) or from dist/. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** A tool the set-up script installs into the project-local, git-ignored tools folder. */
export function localToolPath(name: string): string {
  return path.join(projectRoot(), '.tools', 'bin', name);
}
