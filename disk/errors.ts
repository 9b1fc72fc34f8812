/**
 * A disk file that is not what it claims to be, or uses a feature Lamina does not support.
 * The message always names the file, the on-disk structure and the byte offset, so an operator
 * can open the file in a hex editor and see the problem.
 */
export class DiskFormatError extends Error {
  constructor(
    readonly file: string,
    readonly structure: string,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${file}: ${structure} at offset ${offset}: ${detail}`);
    this.name = 'DiskFormatError';
  }
}
