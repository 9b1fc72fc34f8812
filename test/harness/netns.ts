import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import { netnsPath } from '../../config/engine-netns';
import { pidExists } from '../../lib/processes';

/**
 * A network namespace for engines that may reach the appliance only through the ports a test opens to
 * it: a veth pair (host end HOST_IP, namespace end NS_IP, a /30 of its own), and nftables inside the
 * namespace rejecting every packet out of it but loopback and TCP to HOST_IP on the opened ports. Names
 * carry the creating process's pid, so a later run removes what a crashed one left (`removeStaleNetns`)
 * and never touches a live run's.
 */

const PREFIX = 'lt';
/** `lt<pid>-<2 characters>`: also the veth names with `h`/`n` appended (15 characters at most). */
const NAME = /^lt(\d+)-[0-9a-z]{2}[hn]?$/;

function ip(...args: string[]): { status: number | null; out: string } {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  return { status: run.status, out: `${run.stdout}${run.stderr}`.trim() };
}

function must(what: string, command: string, args: string[], input?: string): void {
  const run = spawnSync(command, args, { encoding: 'utf8', input });
  if (run.status !== 0)
    throw new Error(`${what}: ${command} ${args.join(' ')} failed: ${run.stderr || run.error?.message}`);
}

/** Why this machine cannot host a test namespace (not root, no CAP_NET_ADMIN), or undefined when it can. */
export function netnsRefusal(): string | undefined {
  const name = `${PREFIX}${process.pid}-pr`;
  const added = ip('netns', 'add', name);
  if (added.status !== 0) return `\`ip netns add\` is refused here (${added.out || 'no output'})`;
  ip('netns', 'del', name);
  return undefined;
}

/** Namespaces and veth links of test runs whose process is gone. */
export function removeStaleNetns(): void {
  const stale = (name: string) => {
    const match = NAME.exec(name);
    return match !== null && !pidExists(Number(match[1]));
  };
  for (const name of listNamespaces().filter(stale)) ip('netns', 'del', name);
  for (const link of listLinks().filter(stale)) ip('link', 'del', link);
}

export function listNamespaces(): string[] {
  return ip('netns', 'list')
    .out.split('\n')
    .map((line) => line.split(' ')[0])
    .filter(Boolean);
}

export function listLinks(): string[] {
  return ip('-o', 'link', 'show')
    .out.split('\n')
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** A /30 no interface of this host is in: 10.231.x.y/30, the host at .1, the namespace at .2. */
function freeSubnet(): { hostIp: string; nsIp: string } {
  const used = ip('-4', '-o', 'addr', 'show').out;
  for (;;) {
    const [x, y] = [randomInt(256), randomInt(64) * 4];
    if (!used.includes(`10.231.${x}.${y + 1}/`) && !used.includes(`10.231.${x}.${y + 2}/`))
      return { hostIp: `10.231.${x}.${y + 1}`, nsIp: `10.231.${x}.${y + 2}` };
  }
}

export interface EngineNetns {
  name: string;
  hostLink: string;
  hostIp: string;
  nsIp: string;
  /** `net:[inode]`, as /proc/<pid>/ns/net of a process inside it reads. */
  netId: string;
  /** Whether a TCP connection from inside the namespace to host:port is accepted (within 15 s). */
  canReach(host: string, port: number): Promise<boolean>;
  /** Removes the namespace and the veth pair; safe to call twice. */
  remove(): void;
}

/** Makes the namespace, its link and its firewall; only TCP to hostIp on `openPorts` leaves it. */
export function createEngineNetns(openPorts: number[]): EngineNetns {
  const name = `${PREFIX}${process.pid}-${randomInt(256).toString(16).padStart(2, '0')}`;
  const [hostLink, nsLink] = [`${name}h`, `${name}n`];
  const { hostIp, nsIp } = freeSubnet();
  const remove = () => {
    if (listNamespaces().includes(name)) ip('netns', 'del', name);
    // Gone with its peer once the namespace is; a pair whose peer never moved in is removed here.
    if (listLinks().includes(hostLink)) ip('link', 'del', hostLink);
  };
  try {
    must('namespace', 'ip', ['netns', 'add', name]);
    must('veth pair', 'ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
    must('veth into namespace', 'ip', ['link', 'set', nsLink, 'netns', name]);
    must('host address', 'ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostLink]);
    must('host link up', 'ip', ['link', 'set', hostLink, 'up']);
    must('namespace address', 'ip', inside(name, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsLink));
    must('namespace link up', 'ip', inside(name, 'ip', 'link', 'set', nsLink, 'up'));
    must('namespace loopback up', 'ip', inside(name, 'ip', 'link', 'set', 'lo', 'up'));
    const ruleset = `
      table inet lamina_engine {
        chain out {
          type filter hook output priority 0; policy drop;
          oif lo accept
          ip daddr ${hostIp} tcp dport { ${openPorts.join(', ')} } accept
          meta l4proto tcp reject with tcp reset
          reject
        }
        chain in {
          type filter hook input priority 0; policy drop;
          iif lo accept
          ct state established,related accept
        }
      }`;
    must('firewall (nftables, which scripts/setup installs)', 'ip', inside(name, 'nft', '-f', '-'), ruleset);
  } catch (err) {
    remove();
    throw err;
  }
  return {
    name,
    hostLink,
    hostIp,
    nsIp,
    netId: `net:[${fs.statSync(netnsPath(name)).ino}]`,
    canReach: (host, port) =>
      new Promise((resolve) => {
        const probe = spawn('ip', inside(name, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`), {
          // Refusals are immediate (the firewall resets); the time is for starting ip and bash under load.
          timeout: 15_000,
          stdio: 'ignore',
        });
        probe.once('error', () => resolve(false));
        probe.once('close', (status) => resolve(status === 0));
      }),
    remove,
  };
}

function inside(name: string, ...args: string[]): string[] {
  return ['netns', 'exec', name, ...args];
}

/** `net:[inode]` of a process's network namespace ('' once it is gone). */
export function netIdOf(pid: number | 'self'): string {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

/** Pids of the processes whose network namespace is `netId`. */
export function processesIn(netId: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => netIdOf(pid) === netId);
}
