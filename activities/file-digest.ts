import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';

export interface FileDigest {
  sizeBytes: number;
  sha256: string;
}

/** SHA-256 and size of a file, streamed: what layer versions and published images record. */
export async function digestFile(file: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 2 ** 20 }))
    hash.update(chunk as Buffer);
  return { sizeBytes: (await fs.stat(file)).size, sha256: hash.digest('hex') };
}
