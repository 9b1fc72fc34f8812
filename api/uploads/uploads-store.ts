import path from 'node:path';
import { HttpProblem } from '../problem';

/** Uploads are files named by their id in the uploads folder; tasks get their path (claim check). */
export function uploadPath(uploadsDir: string, id: string): string {
  if (!/^[0-9a-f-]{36}$/.test(id))
    throw new HttpProblem({ title: 'Invalid upload id', status: 400, detail: `'${id}' is not an upload id` });
  return path.join(uploadsDir, id);
}
