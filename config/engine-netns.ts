import fs from 'node:fs';
import os from 'node:os';

/**
 * The network namespace the appliance runs its process Compositing Engines in (LAMINA_CE_NETNS): a
 * namespace made with `ip netns add`, whose only way out is a link to the host on which the appliance
 * exposes its iSCSI portal and Temporal at LAMINA_CE_ADDRESS (README, Offload Compositing).
 */

/** `ip netns` names: one path component under /run/netns. */
export const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Where `ip netns add NAME` keeps the namespace (a bind mount of its /proc/<pid>/ns/net). */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(netnsPath(name));
}

/** The command words that run a program inside namespace `name` (it keeps the caller's pid and group). */
export function netnsExec(name: string): string[] {
  return ['ip', 'netns', 'exec', name];
}

/**
 * What is wrong with running engines in namespace `name` that reach the appliance at `address`, one
 * message per setting: the namespace must exist, and the address must be one of this host's own
 * (non-loopback: inside the namespace, loopback is the namespace's own), where the appliance listens.
 */
export function engineNetnsProblems(name: string, address: string): string[] {
  const problems: string[] = [];
  if (!netnsExists(name))
    problems.push(
      `LAMINA_CE_NETNS: network namespace '${name}' does not exist (\`ip netns list\` shows them, \`ip netns add ${name}\` makes it)`,
    );
  const own = Object.values(os.networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal)
    .map((i) => i!.address);
  if (!own.includes(address))
    problems.push(
      `LAMINA_CE_ADDRESS: engines in network namespace '${name}' reach the appliance at ${address}, ` +
        `which is none of this host's addresses outside loopback (${own.join(', ') || 'it has none'}); ` +
        `set it to the host's end of the namespace's link`,
    );
  return problems;
}
