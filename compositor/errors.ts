/**
 * The compositor's user-facing failure: an input it can never make a disk from as given (a file that
 * is not a layer disk, a VM disk without Windows, a source that is neither folder nor zip, an image
 * too small for its layers). The message names the file and what to change; the CLI prints it as is,
 * and a task fails at once instead of retrying (activities/failure-table.ts).
 */
export class ComposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeError';
  }
}
