import { run } from '../lib/processes';

/**
 * tgtd's management channel, through Debian's `tgtadm`. Every call names the daemon's control port
 * (`-C`): tgtd instances on one machine each listen on /var/run/tgtd/socket.<port>, and a call
 * without it reaches whichever tgtd took port 0.
 *
 * CHAP passwords are tgtadm arguments (it reads them nowhere else), so for the instant a `tgtadm
 * --mode account --op new` runs, its command line shows the password to anyone who can list this
 * machine's processes (unless /proc is mounted hidepid=2). They never reach Lamina's logs: every
 * error from a call that carries a secret has the secret replaced before it is thrown.
 */
export class Tgtadm {
  constructor(readonly controlPort: number) {}

  /** One tgtadm call; `secrets` are blanked out of any error it throws. */
  async call(args: string[], secrets: readonly string[] = []): Promise<string> {
    try {
      return await run('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], {
        timeoutMs: 30_000,
      });
    } catch (err) {
      throw new Error(redact((err as Error).message, secrets));
    }
  }

  /** Every target the daemon serves, parsed from `--mode target --op show`. */
  async targets(): Promise<TgtTarget[]> {
    return parseTargets(await this.call(['--mode', 'target', '--op', 'show']));
  }

  /** The CHAP accounts the daemon holds (bound to a target or not). */
  async accounts(): Promise<string[]> {
    const out = await this.call(['--mode', 'account', '--op', 'show']);
    // "Account list:" followed by one indented user name per line.
    return out
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      .filter(Boolean);
  }

  newTarget(tid: number, iqn: string): Promise<string> {
    return this.call(['--mode', 'target', '--op', 'new', '--tid', String(tid), '--targetname', iqn]);
  }

  /** Sets an iSCSI login key the target offers (e.g. MaxXmitDataSegmentLength). */
  setTargetParameter(tid: number, name: string, value: string): Promise<string> {
    return this.call([
      '--mode',
      'target',
      '--op',
      'update',
      '--tid',
      String(tid),
      '--name',
      name,
      '--value',
      value,
    ]);
  }

  /** Removes a target even while initiators are logged in (their sessions are dropped). */
  deleteTarget(tid: number): Promise<string> {
    return this.call(['--mode', 'target', '--op', 'delete', '--force', '--tid', String(tid)]);
  }

  /**
   * A disk LUN on a file, read-only: WRITE and UNMAP get CHECK CONDITION, DATA PROTECT / WRITE PROTECTED.
   * `params` are further LUN settings (thin_provisioning=1: GET LBA STATUS reports the file's holes, so an
   * initiator reads only the allocated ranges of a sparse file).
   */
  async newReadOnlyLun(
    tid: number,
    lun: number,
    file: string,
    params: Record<string, string>,
  ): Promise<void> {
    const at = ['--tid', String(tid), '--lun', String(lun)];
    await this.call([
      '--mode',
      'logicalunit',
      '--op',
      'new',
      ...at,
      '--backing-store',
      file,
      '--bstype',
      'rdwr',
    ]);
    const settings = Object.entries({ readonly: '1', ...params }).map(([k, v]) => `${k}=${v}`);
    await this.call(['--mode', 'logicalunit', '--op', 'update', ...at, '--params', settings.join(',')]);
  }

  async newAccount(user: string, password: string): Promise<void> {
    await this.call(['--mode', 'account', '--op', 'new', '--user', user, '--password', password], [password]);
  }

  deleteAccount(user: string): Promise<string> {
    return this.call(['--mode', 'account', '--op', 'delete', '--user', user]);
  }

  /** `outgoing` = the target's own credential for mutual CHAP (the initiator checks the target). */
  bindAccount(tid: number, user: string, { outgoing = false } = {}): Promise<string> {
    const direction = outgoing ? ['--outgoing'] : [];
    return this.call([
      '--mode',
      'account',
      '--op',
      'bind',
      '--tid',
      String(tid),
      '--user',
      user,
      ...direction,
    ]);
  }

  /** Lets the initiator with this name log in; a target with no binding admits nobody. */
  bindInitiator(tid: number, initiatorName: string): Promise<string> {
    return this.call([
      '--mode',
      'target',
      '--op',
      'bind',
      '--tid',
      String(tid),
      '--initiator-name',
      initiatorName,
    ]);
  }

  /** Lets any initiator log in (that has the CHAP credentials): tgtadm's wildcard is an address, not a name. */
  bindAnyInitiator(tid: number): Promise<string> {
    return this.call([
      '--mode',
      'target',
      '--op',
      'bind',
      '--tid',
      String(tid),
      '--initiator-address',
      'ALL',
    ]);
  }

  /** Ends the daemon; tgtd refuses while it still has targets, so delete them first. */
  deleteSystem(): Promise<string> {
    return this.call(['--mode', 'system', '--op', 'delete']);
  }
}

export interface TgtTarget {
  tid: number;
  iqn: string;
  /** Disk LUNs (LUN 0, tgt's controller, left out) and the file each serves. */
  luns: { lun: number; backingStore: string }[];
  /** Incoming CHAP users bound to it. */
  accounts: string[];
}

/** Whether tgtadm failed because the object it named does not exist (what an idempotent delete allows). */
export function isNotFound(err: unknown): boolean {
  return /can't find the (target|account|logical unit)|no such/i.test((err as Error).message);
}

function redact(message: string, secrets: readonly string[]): string {
  return secrets.filter(Boolean).reduce((text, secret) => text.split(secret).join('<secret>'), message);
}

/**
 * The indented report of `tgtadm --mode target --op show`: "Target <tid>: <iqn>" starts a target;
 * under "LUN information:", "LUN: <n>" starts a LUN and "Backing store path: <file>" names its file;
 * under "Account information:" each line is a user ("<user> (outgoing)" for the target's own).
 */
export function parseTargets(report: string): TgtTarget[] {
  const targets: TgtTarget[] = [];
  let target: TgtTarget | undefined;
  let section = '';
  let lun: number | undefined;
  for (const raw of report.split('\n')) {
    const line = raw.trim();
    const head = /^Target (\d+): (\S+)$/.exec(line);
    if (head) {
      target = { tid: Number(head[1]), iqn: head[2], luns: [], accounts: [] };
      targets.push(target);
      section = '';
      continue;
    }
    if (!target || !line) continue;
    if (/^[A-Za-z_ ]+ information:$/.test(line)) {
      section = line;
      continue;
    }
    if (section === 'LUN information:') {
      const lunHead = /^LUN: (\d+)$/.exec(line);
      if (lunHead) lun = Number(lunHead[1]);
      const store = /^Backing store path: (.+)$/.exec(line);
      if (store && lun !== undefined && lun > 0) target.luns.push({ lun, backingStore: store[1] });
    } else if (section === 'Account information:' && !line.endsWith('(outgoing)')) {
      target.accounts.push(line);
    }
  }
  return targets;
}
