import net from 'node:net';

/**
 * tgtd's management channel: the requests Debian's `tgtadm` sends, written to the daemon's socket
 * (/var/run/tgtd/socket.<control port>) by this process instead of by a `tgtadm` process per call.
 * Making a target takes about 14 calls; as processes they took 0.6-2.1 s on a busy 2-vCPU machine
 * (a fork and exec of tgtadm each), through the socket a few milliseconds. tgtd instances on one
 * machine each listen on their own control port, and a call without one reaches whichever tgtd took 0.
 *
 * The wire format is tgtadm's (tgt 1.0.85, as `strace tgtadm` shows it): a 120-byte request header
 * (mode, operation, driver name, length, target id, session id, LUN, connection id, host, device
 * type, account direction, pack, force; little-endian), then the parameters as one NUL-terminated
 * string; the answer is {error, length} and, for a show, its text. Errors read as tgtadm prints them
 * ("can't find the account"), prefixed with the equivalent tgtadm command line.
 *
 * CHAP passwords travel over that socket, which only root can reach: unlike a `tgtadm --password`
 * argument, they are never on a command line other users of the machine can list. Error messages
 * never carry them.
 */
export class Tgtadm {
  constructor(readonly controlPort: number) {}

  /** Every target the daemon serves, parsed from `--mode target --op show`. */
  async targets(): Promise<TgtTarget[]> {
    return parseTargets(await this.request({ mode: 'target', op: 'show' }));
  }

  /** The CHAP accounts the daemon holds (bound to a target or not). */
  async accounts(): Promise<string[]> {
    const out = await this.request({ mode: 'account', op: 'show' });
    // "Account list:" followed by one indented user name per line.
    return out
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      .filter(Boolean);
  }

  async newTarget(tid: number, iqn: string): Promise<void> {
    await this.request({ mode: 'target', op: 'new', tid, params: `targetname=${iqn}` });
  }

  /** Sets an iSCSI login key the target offers (e.g. MaxXmitDataSegmentLength). */
  async setTargetParameter(tid: number, name: string, value: string): Promise<void> {
    await this.request({ mode: 'target', op: 'update', tid, params: `${name}=${value}` });
  }

  /** Removes a target even while initiators are logged in (their sessions are dropped). */
  async deleteTarget(tid: number): Promise<void> {
    await this.request({ mode: 'target', op: 'delete', tid, force: true });
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
    if (file.includes(',')) throw new Error(`tgtd cannot serve ${file}: its path has a comma`);
    await this.request({ mode: 'logicalunit', op: 'new', tid, lun, params: `path=${file},bstype=rdwr` });
    const settings = Object.entries({ readonly: '1', ...params }).map(([k, v]) => `${k}=${v}`);
    // tgtadm sends --params of a logical unit so, and tgtd reads them so.
    await this.request({
      mode: 'logicalunit',
      op: 'update',
      tid,
      lun,
      params: `targetOps ${settings.join(',')},`,
    });
  }

  async newAccount(user: string, password: string): Promise<void> {
    await this.request({ mode: 'account', op: 'new', params: `user=${user},password=${password}` }, [
      password,
    ]);
  }

  async deleteAccount(user: string): Promise<void> {
    await this.request({ mode: 'account', op: 'delete', params: `user=${user}` });
  }

  /** `outgoing` = the target's own credential for mutual CHAP (the initiator checks the target). */
  async bindAccount(tid: number, user: string, { outgoing = false } = {}): Promise<void> {
    await this.request({ mode: 'account', op: 'bind', tid, outgoing, params: `user=${user}` });
  }

  /** Lets the initiator with this name log in; a target with no binding admits nobody. */
  async bindInitiator(tid: number, initiatorName: string): Promise<void> {
    await this.request({ mode: 'target', op: 'bind', tid, params: `initiator-name=${initiatorName}` });
  }

  /** Lets any initiator log in (that has the CHAP credentials): tgtadm's wildcard is an address, not a name. */
  async bindAnyInitiator(tid: number): Promise<void> {
    await this.request({ mode: 'target', op: 'bind', tid, params: 'initiator-address=ALL' });
  }

  /** Ends the daemon (it answers first, then exits); tgtd refuses while it still has targets, so delete them first. */
  async deleteSystem(): Promise<void> {
    await this.request({ mode: 'system', op: 'delete' });
  }

  /** One request on a connection of its own; the answer's text. `secrets` never reach an error. */
  private request(request: TgtRequest, secrets: readonly string[] = []): Promise<string> {
    const command = describe(request, this.controlPort);
    const params = request.params === undefined ? Buffer.alloc(0) : Buffer.from(`${request.params}\0`);
    const header = Buffer.alloc(REQUEST_HEADER_BYTES);
    header.writeUInt32LE(MODES[request.mode], 0);
    header.writeUInt32LE(OPS[request.op], 4);
    header.write('iscsi', 8, 'latin1');
    header.writeUInt32LE(REQUEST_HEADER_BYTES + params.length, 72);
    header.writeInt32LE(request.tid ?? -1, 76);
    header.writeBigUInt64LE(0n, 80); // session id
    header.writeBigUInt64LE(request.lun === undefined ? 2n ** 64n - 1n : BigInt(request.lun), 88);
    // connection id, host number, device type (0: disk), all 0
    header.writeUInt32LE(request.outgoing ? 1 : 0, 108);
    header.writeUInt32LE(0, 112); // pack
    header.writeUInt32LE(request.force ? 1 : 0, 116);
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let settled = false;
      const finish = (err: Error | undefined, text = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(new Error(redact(`${command}: ${err.message}`, secrets)));
        else resolve(text);
      };
      const socket = net.createConnection({ path: `${SOCKET_PREFIX}${this.controlPort}` });
      const timer = setTimeout(
        () => finish(new Error(`tgtd did not answer within ${CALL_TIMEOUT_MS / 1000} s`)),
        CALL_TIMEOUT_MS,
      );
      socket.on('connect', () => socket.end(Buffer.concat([header, params])));
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received < RESPONSE_HEADER_BYTES) return;
        const answer = Buffer.concat(chunks);
        const error = answer.readUInt32LE(0);
        const length = answer.readUInt32LE(4);
        if (error !== 0) return finish(new Error(errorText(error)));
        if (received >= length)
          finish(
            undefined,
            answer.subarray(RESPONSE_HEADER_BYTES, length).toString('utf8').replace(/\0+$/, ''),
          );
      });
      socket.on('end', () => finish(new Error('tgtd closed the connection before it answered')));
      socket.on('error', (err: NodeJS.ErrnoException) =>
        finish(
          new Error(
            err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
              ? `can't connect to tgt daemon (no tgtd on control port ${this.controlPort}: ${err.code})`
              : err.message,
          ),
        ),
      );
    });
  }
}

/** Where tgtd listens for management requests (tgtd -C <port>). */
const SOCKET_PREFIX = '/var/run/tgtd/socket.';
const REQUEST_HEADER_BYTES = 120;
const RESPONSE_HEADER_BYTES = 8;
const CALL_TIMEOUT_MS = 30_000;
/** tgt 1.0.85's enum tgtadm_mode and enum tgtadm_op values for the modes and operations used here. */
const MODES = { system: 0, target: 1, logicalunit: 2, account: 7 } as const;
const OPS = { new: 0, delete: 1, show: 2, bind: 3, update: 5 } as const;

interface TgtRequest {
  mode: keyof typeof MODES;
  op: keyof typeof OPS;
  tid?: number;
  lun?: number;
  /** The parameter string (tgtadm's options, as it sends them). */
  params?: string;
  /** An account bound as the target's own (mutual CHAP). */
  outgoing?: boolean;
  force?: boolean;
}

/** tgt 1.0.85's enum tgtadm_errno, as tgtadm words each one. */
const ERRORS = [
  'success',
  'unknown error',
  'out of memory',
  "can't find the driver",
  "can't find the target",
  "can't find the logical unit",
  "can't find the session",
  "can't find the connection",
  "can't find the binding",
  'this target already exists',
  'this binding already exists',
  'this logical unit number already exists',
  'this access control rule already exists',
  'this access control rule does not exist',
  'this account already exists',
  "can't find the account",
  'too many accounts',
  'invalid request',
  'this target already has an outgoing account',
  'this target is still active',
  'this logical unit is still active',
  'this driver is busy',
  "this operation isn't supported",
  'unknown parameter',
  'this device has Prevent Removal set',
];

function errorText(code: number): string {
  return ERRORS[code] ?? `tgtd error ${code}`;
}

/** The tgtadm command line a request stands for (secrets left out), for error messages. */
function describe(request: TgtRequest, controlPort: number): string {
  const words = ['tgtadm', '-C', String(controlPort), '--mode', request.mode, '--op', request.op];
  if (request.tid !== undefined) words.push('--tid', String(request.tid));
  if (request.lun !== undefined) words.push('--lun', String(request.lun));
  if (request.params !== undefined) words.push(request.params.replace(/password=[^,]*/, 'password=<secret>'));
  if (request.outgoing) words.push('--outgoing');
  if (request.force) words.push('--force');
  return words.join(' ');
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
