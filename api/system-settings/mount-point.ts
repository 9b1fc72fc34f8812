import { checkMountPoint, PathRefused } from '../../config/host-paths';
import { HttpProblem } from '../problem';

/**
 * A share's mount point as a request names it (elastic layer shares, layer transfers): the file-share
 * connector's rules (config/host-paths.ts), a refusal being a 422 on `body.mountPoint`.
 */
export async function checkShareMount(mountPoint: string, ownDirs: readonly string[]): Promise<void> {
  try {
    await checkMountPoint(mountPoint, ownDirs);
  } catch (err) {
    if (!(err instanceof PathRefused)) throw err;
    throw new HttpProblem({
      title: 'Setting not allowed on this appliance',
      status: 422,
      detail: `body.mountPoint: ${err.message}.`,
      errors: [{ field: 'body.mountPoint', message: err.message }],
    });
  }
}
