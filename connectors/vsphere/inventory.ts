import { listObjects, moRefsIn, readProperties } from './property-collector';
import type { VsphereConnectorSettings } from './settings';
import type { VimClient } from './vim-client';
import { moRefOf, type MoRef } from './vim-fault';

/**
 * Finding the objects a connector's settings name, by name, the way an admin typed them. A name that
 * does not resolve raises SettingProblem naming the field and the valid choices, which is what the
 * connector's Test action shows and what a VM operation fails with.
 */
export class SettingProblem extends Error {
  constructor(
    readonly field: keyof VsphereConnectorSettings,
    message: string,
  ) {
    super(message);
    this.name = 'SettingProblem';
  }
}

export interface Datacenter {
  ref: MoRef;
  name: string;
  vmFolder: MoRef;
  hostFolder: MoRef;
}

export interface ComputePlacement {
  name: string;
  /** Where new VMs go: the cluster's or host's root resource pool. */
  resourcePool: MoRef;
  /** Set when the setting named one host (standalone or in a cluster). */
  host?: MoRef;
  datastores: MoRef[];
  networks: MoRef[];
}

export interface DatastoreInfo {
  ref: MoRef;
  name: string;
  freeBytes: number;
  capacityBytes: number;
}

/** How a NIC attaches: a standard port group by name, or a distributed port group by key and switch. */
export type NetworkBacking =
  | { kind: 'standard'; name: string; ref: MoRef }
  | { kind: 'distributed'; name: string; ref: MoRef; portgroupKey: string; switchUuid: string };

export interface VmFolder {
  ref: MoRef;
  path: string;
}

/** Lists choices readably and bounded, so a vCenter with thousands of VMs still gives a short message. */
export function choices(names: string[]): string {
  if (names.length === 0) return '(none)';
  const sorted = [...new Set(names)].sort();
  const shown = sorted.slice(0, 20).join(', ');
  return sorted.length > 20 ? `${shown} … (${sorted.length} in all)` : shown;
}

function nameOf(props: Map<string, { text: string }>): string {
  return props.get('name')?.text ?? '';
}

export async function findDatacenter(client: VimClient, name: string): Promise<Datacenter> {
  const all = await listObjects(client, 'Datacenter', ['name', 'vmFolder', 'hostFolder']);
  const match = all.find((o) => nameOf(o.props) === name);
  if (!match) {
    throw new SettingProblem(
      'datacenter',
      `datacenter '${name}' not found; datacenters: ${choices(all.map((o) => nameOf(o.props)))}`,
    );
  }
  return {
    ref: match.ref,
    name,
    vmFolder: moRefOf(match.props.get('vmFolder')!),
    hostFolder: moRefOf(match.props.get('hostFolder')!),
  };
}

/** A cluster or a host (standalone or in a cluster) by name; VMs go to its root resource pool. */
export async function findHostOrCluster(
  client: VimClient,
  dc: Datacenter,
  name: string,
): Promise<ComputePlacement> {
  const computes = await listObjects(
    client,
    'ComputeResource',
    ['name', 'resourcePool', 'datastore', 'network'],
    dc.hostFolder,
  );
  const compute = computes.find((o) => nameOf(o.props) === name);
  if (compute) {
    return {
      name,
      resourcePool: moRefOf(compute.props.get('resourcePool')!),
      datastores: moRefsIn(compute.props.get('datastore')),
      networks: moRefsIn(compute.props.get('network')),
    };
  }
  const hosts = await listObjects(
    client,
    'HostSystem',
    ['name', 'parent', 'datastore', 'network'],
    dc.hostFolder,
  );
  const host = hosts.find((o) => nameOf(o.props) === name);
  if (!host) {
    const clusters = computes
      .filter((o) => o.ref.type === 'ClusterComputeResource')
      .map((o) => nameOf(o.props));
    throw new SettingProblem(
      'host',
      `host or cluster '${name}' not found in ${dc.name}; clusters: ${choices(clusters)}; ` +
        `hosts: ${choices(hosts.map((o) => nameOf(o.props)))}`,
    );
  }
  const parent = await readProperties(client, moRefOf(host.props.get('parent')!), ['resourcePool']);
  return {
    name,
    resourcePool: moRefOf(parent.get('resourcePool')!),
    host: host.ref,
    datastores: moRefsIn(host.props.get('datastore')),
    networks: moRefsIn(host.props.get('network')),
  };
}

/** The datastore must exist in the datacenter and be mounted where the VMs will run. */
export async function findDatastore(
  client: VimClient,
  dc: Datacenter,
  compute: ComputePlacement,
  name: string,
): Promise<DatastoreInfo> {
  const all = await listObjects(
    client,
    'Datastore',
    ['name', 'summary.freeSpace', 'summary.capacity'],
    dc.ref,
  );
  const match = all.find((o) => nameOf(o.props) === name);
  const reachable = all.filter((o) => compute.datastores.some((d) => d.value === o.ref.value));
  if (!match) {
    throw new SettingProblem(
      'datastore',
      `datastore '${name}' not found; datastores in ${dc.name}: ${choices(all.map((o) => nameOf(o.props)))}`,
    );
  }
  if (!reachable.includes(match)) {
    throw new SettingProblem(
      'datastore',
      `datastore '${name}' is not mounted on '${compute.name}'; datastores there: ` +
        choices(reachable.map((o) => nameOf(o.props))),
    );
  }
  return {
    ref: match.ref,
    name,
    freeBytes: Number(match.props.get('summary.freeSpace')?.text ?? 0),
    capacityBytes: Number(match.props.get('summary.capacity')?.text ?? 0),
  };
}

export async function findNetwork(
  client: VimClient,
  dc: Datacenter,
  compute: ComputePlacement,
  name: string,
): Promise<NetworkBacking> {
  const all = await listObjects(client, 'Network', ['name'], dc.ref);
  const reachable = all.filter((o) => compute.networks.some((n) => n.value === o.ref.value));
  const match = reachable.find((o) => nameOf(o.props) === name);
  if (!match) {
    const where = all.some((o) => nameOf(o.props) === name)
      ? `is not available on '${compute.name}'`
      : 'not found';
    throw new SettingProblem(
      'network',
      `network '${name}' ${where}; networks on '${compute.name}': ${choices(reachable.map((o) => nameOf(o.props)))}`,
    );
  }
  if (match.ref.type !== 'DistributedVirtualPortgroup') return { kind: 'standard', name, ref: match.ref };
  const portgroup = await readProperties(client, match.ref, ['key', 'config.distributedVirtualSwitch']);
  const dvSwitch = await readProperties(client, moRefOf(portgroup.get('config.distributedVirtualSwitch')!), [
    'uuid',
  ]);
  return {
    kind: 'distributed',
    name,
    ref: match.ref,
    portgroupKey: portgroup.get('key')!.text,
    switchUuid: dvSwitch.get('uuid')!.text,
  };
}

/** A folder path below the datacenter's VM folder ("" is the VM folder itself). */
export async function findVmFolder(
  client: VimClient,
  dc: Datacenter,
  folderPath: string | undefined,
): Promise<VmFolder> {
  const wanted = (folderPath ?? '').split('/').filter(Boolean).join('/');
  if (wanted === '') return { ref: dc.vmFolder, path: '' };
  const folders = await listObjects(client, 'Folder', ['name', 'parent'], dc.vmFolder);
  const byId = new Map(folders.map((f) => [f.ref.value, f]));
  const pathOf = (id: string): string => {
    const folder = byId.get(id);
    if (!folder) return '';
    const parent = pathOf(folder.props.get('parent')!.text);
    return parent ? `${parent}/${nameOf(folder.props)}` : nameOf(folder.props);
  };
  const paths = folders.map((f) => ({ ref: f.ref, path: pathOf(f.ref.value) }));
  const match = paths.find((p) => p.path === wanted);
  if (!match) {
    throw new SettingProblem(
      'vmFolder',
      `VM folder '${wanted}' not found in ${dc.name}; folders: ${choices(paths.map((p) => p.path))}`,
    );
  }
  return match;
}

/** A VM anywhere in the datacenter, by name (the template VM need not sit in Lamina's folder). */
export async function findTemplateVm(
  client: VimClient,
  dc: Datacenter,
  name: string,
  field: 'templateVm' | 'ceTemplateVm' = 'templateVm',
): Promise<MoRef> {
  const vms = await listObjects(client, 'VirtualMachine', ['name'], dc.vmFolder);
  const match = vms.find((o) => nameOf(o.props) === name);
  if (match) return match.ref;
  throw new SettingProblem(
    field,
    `template VM '${name}' not found in ${dc.name}; VMs: ${choices(vms.map((o) => nameOf(o.props)))}`,
  );
}
