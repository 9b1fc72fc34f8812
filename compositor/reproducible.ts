// eslint-disable-next-line @typescript-eslint/no-require-imports -- the module object itself, not an interop copy, so replacing randomBytes reaches disk/
import crypto = require('node:crypto');

/**
 * Runs `task` with the process's entropy and wall clock replaced by ones derived from `seed` and
 * `epochMs`, so that everything written meanwhile — disk and partition GUIDs, the MBR disk
 * signature, VHD/VHDX/VMDK identifiers and timestamps, all chosen by disk/ — is the same for the
 * same inputs. disk/ offers no identity option (asked for in issue 3); until it does, this is the
 * one place that pins those choices, for the duration of the image write only.
 */
export async function withDerivedIdentity<T>(
  seed: string,
  epochMs: number,
  task: () => Promise<T>,
): Promise<T> {
  const cryptoModule = crypto as { randomBytes: typeof crypto.randomBytes };
  const originalRandomBytes = cryptoModule.randomBytes;
  const originalNow = Date.now;
  let counter = 0;
  const derivedBytes = (size: number): Buffer => {
    const out = Buffer.alloc(size);
    for (let filled = 0; filled < size; filled += 32) {
      crypto.createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, filled);
    }
    return out;
  };
  cryptoModule.randomBytes = ((size: number, callback?: (err: Error | null, buf: Buffer) => void) => {
    if (callback) return originalRandomBytes(size, callback);
    return derivedBytes(size);
  }) as typeof crypto.randomBytes;
  Date.now = () => epochMs;
  try {
    return await task();
  } finally {
    cryptoModule.randomBytes = originalRandomBytes;
    Date.now = originalNow;
  }
}
