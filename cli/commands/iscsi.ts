import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { digestFile } from '../../activities/file-digest';
import { loadConfig } from '../../config/env';
import {
  checkChapCredentials,
  LayerTargets,
  RawExportCache,
  type ChapCredentials,
  type LayerTargetSpec,
} from '../../iscsi';
import { UsageError, type CliCommand } from '../command';
import { parseOptions } from '../options';

const usage = `Usage:
  lamina iscsi serve --layer FILE [--layer FILE]... [--host ADDR] [--port N] [--control-port N]
                     [--chap-user USER --chap-secret SECRET] [--initiator IQN]
      Serves layer disks (VHDX, or any format Lamina reads) over iSCSI as read-only LUNs 1, 2, … of
      one new target, as an offload task does, until Ctrl-C; then removes the target and ends tgtd.
      Prints the IQN, the portal and the LUN → layer mapping.

      --host, --port     portal (default LAMINA_ISCSI_HOST, LAMINA_ISCSI_PORT: 0.0.0.0:3260)
      --control-port     tgtd's management channel, 0-32767 (default LAMINA_ISCSI_CONTROL_PORT + 1,
                         so it never meets the appliance's tgtd)
      --chap-user, --chap-secret
                         the CHAP credentials initiators must present; without them a one-time
                         secret is made and printed (a secret given here shows in this process's
                         command line)
      --initiator        the only initiator name admitted (default: any with the credentials)

      Layers are converted once to raw exports in $LAMINA_DATA_DIR/iscsi/serve/exports (bounded by
      LAMINA_ISCSI_CACHE_GIB), kept for the next serve of the same layer.`;

async function serve(args: string[]): Promise<number> {
  const options = parseOptions(args, {
    layer: 'list',
    host: 'value',
    port: 'value',
    'control-port': 'value',
    'chap-user': 'value',
    'chap-secret': 'value',
    initiator: 'value',
  });
  if (options.positional.length > 0) throw new UsageError(`unexpected argument '${options.positional[0]}'`);
  const files = options.lists.get('layer') ?? [];
  if (files.length === 0) throw new UsageError('--layer is required (one per LUN)');
  const config = loadConfig().iscsi;
  const port = whole(options.values.get('port'), 'port', 1, 65535) ?? config.portal.port;
  const controlPort =
    whole(options.values.get('control-port'), 'control-port', 0, 32767) ?? (config.controlPort + 1) % 32768;
  const host = options.values.get('host') ?? config.portal.host;
  const chap = credentials(options.values.get('chap-user'), options.values.get('chap-secret'));

  const layers: LayerTargetSpec['layers'] = [];
  for (const file of files) {
    const { sha256 } = await digestFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`--layer ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    layers.push({ path: path.resolve(file), sha256, label: path.basename(file) });
  }

  const stateDir = path.join(config.stateDir, 'serve');
  const targets = new LayerTargets(
    { portal: { host, port }, controlPort, stateDir },
    new RawExportCache(path.join(stateDir, 'exports'), config.cacheMaxBytes),
  );
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const stopped = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const cancel = new AbortController();
  void stopped.then(() => cancel.abort());
  try {
    const target = await targets.create(
      {
        name: `serve-${randomBytes(4).toString('hex')}`,
        layers,
        initiatorName: options.values.get('initiator'),
        chap: chap.credentials,
      },
      { signal: cancel.signal },
    );
    const lines = [
      `IQN: ${target.iqn}`,
      `portal: ${host}:${port}`,
      `CHAP user: ${target.chapUser}`,
      ...(chap.generated ? [`CHAP secret: ${chap.credentials.secret} (made for this run)`] : []),
      `initiator: ${target.initiatorName ?? 'any'}`,
      ...target.luns.map(
        (lun) => `LUN ${lun.lun}: ${layers[lun.lun - 1].path} (${lun.sizeBytes} bytes, sha256 ${lun.sha256})`,
      ),
      'serving; Ctrl-C stops',
    ];
    console.log(lines.join('\n'));
    await Promise.race([stopped, targets.daemonExited()]);
  } catch (err) {
    if (cancel.signal.aborted) {
      console.error('lamina iscsi serve: interrupted while preparing the layers; nothing is served');
      return 130;
    }
    throw err;
  } finally {
    await targets.close();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  if (!cancel.signal.aborted)
    throw new Error(`tgtd ended by itself; its log: ${path.join(stateDir, 'tgtd.log')}`);
  console.log('target removed, tgtd stopped');
  return 0;
}

function whole(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a whole number ${min}-${max}`);
  return n;
}

function credentials(user?: string, secret?: string): { credentials: ChapCredentials; generated: boolean } {
  if ((user === undefined) !== (secret === undefined))
    throw new UsageError('--chap-user and --chap-secret go together');
  if (user !== undefined && secret !== undefined) {
    try {
      checkChapCredentials({ user, secret });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    return { credentials: { user, secret }, generated: false };
  }
  return {
    credentials: { user: 'lamina-serve', secret: randomBytes(12).toString('base64url') },
    generated: true,
  };
}

export const iscsiCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'serve') return serve(rest);
    throw new UsageError(`unknown sub-command '${sub ?? ''}'; expected serve\n\n${usage}`);
  },
};
