import type { NetworkBacking } from './inventory';
import { moRefXml, readProperties } from './property-collector';
import { waitForTask, type ProgressCallback } from './tasks';
import type { VimClient } from './vim-client';
import { moRefOf, VimFault, type MoRef } from './vim-fault';
import { fragment, xml, type RawXml, type XmlElement } from './xml';

/**
 * Virtual machine lifecycle through vim25: create (from explicit hardware, optionally copied from a
 * template VM), power, guest shutdown with a forced power-off fallback, snapshots, destroy. Every
 * operation is idempotent by name or state, so a retried activity finds what the first attempt made.
 */
export type PowerState = 'poweredOn' | 'poweredOff' | 'suspended';

export interface VmHardware {
  cpus: number;
  memoryMiB: number;
  firmware: 'bios' | 'efi';
  /** vSphere guest OS id, e.g. windows9_64Guest (Windows 10/11). */
  guestId: string;
  /** SCSI controller device type, e.g. VirtualLsiLogicSASController, ParaVirtualSCSIController. */
  scsiController: string;
  /** NIC device type, e.g. VirtualVmxnet3, VirtualE1000e. */
  nic: string;
  /** UEFI secure boot (with efi firmware only). */
  secureBoot: boolean;
  /** A virtual TPM 2.0 device (vSphere needs a key provider for it: the VM's files are encrypted). */
  vtpm: boolean;
}

export const DEFAULT_HARDWARE: VmHardware = {
  cpus: 2,
  memoryMiB: 4096,
  firmware: 'efi',
  guestId: 'windows9_64Guest',
  scsiController: 'VirtualLsiLogicSASController',
  nic: 'VirtualVmxnet3',
  secureBoot: false,
  vtpm: false,
};

export interface VmPlacement {
  folder: MoRef;
  resourcePool: MoRef;
  host?: MoRef;
  datastore: string;
  network: NetworkBacking;
}

export interface VmDisk {
  /** `[datastore] folder/name.vmdk`, an existing disk to attach. */
  path: string;
  capacityBytes: number;
}

const SCSI_CONTROLLER_TYPES = [
  'VirtualLsiLogicSASController',
  'ParaVirtualSCSIController',
  'VirtualLsiLogicController',
  'VirtualBusLogicController',
];
const NIC_TYPES = ['VirtualVmxnet3', 'VirtualE1000e', 'VirtualE1000', 'VirtualVmxnet2', 'VirtualPCNet32'];

/** The hardware of an existing VM (the connector's template VM), for new VMs to copy. */
export async function hardwareOf(client: VimClient, vm: MoRef): Promise<VmHardware> {
  const props = await readProperties(client, vm, [
    'config.hardware.numCPU',
    'config.hardware.memoryMB',
    'config.firmware',
    'config.guestId',
    'config.hardware.device',
    'config.bootOptions',
  ]);
  const devices = props.get('config.hardware.device')?.children ?? [];
  const typeAmong = (types: string[]) => devices.map((d) => d.type ?? '').find((t) => types.includes(t));
  const firmware = props.get('config.firmware')?.text;
  return {
    cpus: Number(props.get('config.hardware.numCPU')?.text ?? DEFAULT_HARDWARE.cpus),
    memoryMiB: Number(props.get('config.hardware.memoryMB')?.text ?? DEFAULT_HARDWARE.memoryMiB),
    firmware: firmware === 'efi' || firmware === 'bios' ? firmware : DEFAULT_HARDWARE.firmware,
    guestId: props.get('config.guestId')?.text ?? DEFAULT_HARDWARE.guestId,
    scsiController: typeAmong(SCSI_CONTROLLER_TYPES) ?? DEFAULT_HARDWARE.scsiController,
    nic: typeAmong(NIC_TYPES) ?? DEFAULT_HARDWARE.nic,
    secureBoot: props.get('config.bootOptions')?.textOf('efiSecureBootEnabled') === 'true',
    vtpm: devices.some((d) => d.type === 'VirtualTPM'),
  };
}

/** The VM called `name` directly in `folder`, or undefined. */
export async function findVmInFolder(
  client: VimClient,
  folder: MoRef,
  name: string,
): Promise<MoRef | undefined> {
  const response = await client.invoke(
    'FindChild',
    client.serviceContent.searchIndex,
    fragment(moRefXml('entity', folder), xml('name', name)),
  );
  const found = response.child('returnval');
  return found && found.attributes.type === 'VirtualMachine' ? moRefOf(found) : undefined;
}

/** Creates the VM, or returns the one a previous attempt created under the same name. */
export async function createVm(
  client: VimClient,
  request: {
    name: string;
    hardware: VmHardware;
    placement: VmPlacement;
    disks: VmDisk[];
    /** vCenter's instance UUID to give the VM, so the caller finds it again by an id it chose. */
    instanceUuid?: string;
    /** Advanced configuration (config.extraConfig) to set, e.g. labels the caller reads back. */
    extraConfig?: Record<string, string>;
  },
  onProgress?: ProgressCallback,
): Promise<{ vm: MoRef; created: boolean }> {
  // vCenter stores '/', '\' and '%' in names escaped (%2f, %5c, %25) and returns them so: such a name
  // would not be found again by a retry, so it is refused (vcsim does not mimic the escaping).
  if (/[/\\%]/.test(request.name)) {
    throw new Error(
      `VM name '${request.name}' contains '/', '\\' or '%', which vCenter escapes; choose another`,
    );
  }
  const existing = await findVmInFolder(client, request.placement.folder, request.name);
  if (existing) return { vm: existing, created: false };
  const { hardware, placement } = request;
  const controllerKey = -100;
  const devices = [
    deviceChange(
      'add',
      xml('device', fragment(xml('key', controllerKey), xml('busNumber', 0), xml('sharedBus', 'noSharing')), {
        'xsi:type': hardware.scsiController,
      }),
    ),
    ...request.disks.map((disk, i) =>
      deviceChange(
        'add',
        xml(
          'device',
          fragment(
            xml('key', -200 - i),
            xml('backing', fragment(xml('fileName', disk.path), xml('diskMode', 'persistent')), {
              'xsi:type': 'VirtualDiskFlatVer2BackingInfo',
            }),
            xml('controllerKey', controllerKey),
            // Unit 7 is the controller's own.
            xml('unitNumber', i < 7 ? i : i + 1),
            xml('capacityInKB', Math.ceil(disk.capacityBytes / 1024)),
          ),
          { 'xsi:type': 'VirtualDisk' },
        ),
      ),
    ),
    deviceChange(
      'add',
      xml(
        'device',
        fragment(
          xml('key', -300),
          networkBackingXml(placement.network),
          xml(
            'connectable',
            fragment(xml('startConnected', true), xml('allowGuestControl', true), xml('connected', false)),
          ),
          xml('addressType', 'generated'),
        ),
        { 'xsi:type': hardware.nic },
      ),
    ),
    // The template VM's vTPM, for an image that needs one (Windows 11, BitLocker).
    hardware.vtpm
      ? deviceChange('add', xml('device', xml('key', -400), { 'xsi:type': 'VirtualTPM' }))
      : undefined,
  ];
  const config = xml(
    'config',
    fragment(
      // vim25 checks the order of ConfigSpec's elements: it follows the schema.
      xml('name', request.name),
      request.instanceUuid === undefined ? undefined : xml('instanceUuid', request.instanceUuid),
      xml('guestId', hardware.guestId),
      xml('files', xml('vmPathName', `[${placement.datastore}]`)),
      xml('numCPUs', hardware.cpus),
      xml('memoryMB', hardware.memoryMiB),
      devices,
      extraConfigXml(request.extraConfig ?? {}),
      // Secure boot exists with UEFI only: a BIOS image's VM does without, whatever the template has.
      hardware.secureBoot && hardware.firmware === 'efi'
        ? xml('bootOptions', xml('efiSecureBootEnabled', true))
        : undefined,
      xml('firmware', hardware.firmware),
    ),
  );
  const response = await client.invoke(
    'CreateVM_Task',
    placement.folder,
    fragment(
      config,
      moRefXml('pool', placement.resourcePool),
      placement.host && moRefXml('host', placement.host),
    ),
  );
  const result = await waitForTask(
    client,
    moRefOf(response.child('returnval')!),
    `create VM '${request.name}'`,
    {
      onProgress,
    },
  );
  return { vm: moRefOf(result!), created: true };
}

function extraConfigXml(values: Record<string, string>): RawXml {
  return fragment(
    Object.entries(values).map(([key, value]) =>
      xml('extraConfig', fragment(xml('key', key), xml('value', value, { 'xsi:type': 'xsd:string' }))),
    ),
  );
}

/** Sets advanced configuration values (an empty value removes the key, as vSphere defines). */
export async function setExtraConfig(
  client: VimClient,
  vm: MoRef,
  values: Record<string, string>,
): Promise<void> {
  const response = await client.invoke('ReconfigVM_Task', vm, xml('spec', extraConfigXml(values)));
  await waitForTask(client, moRefOf(response.child('returnval')!), `reconfigure ${vm.value}`);
}

/** Key → value of a VM's `config.extraConfig` property. */
export function extraConfigOf(value: XmlElement | undefined): Map<string, string> {
  return new Map(
    (value?.children ?? []).map((option) => [option.textOf('key') ?? '', option.textOf('value') ?? '']),
  );
}

/** The VM whose vCenter instance UUID is `uuid`, anywhere in the datacenter, or undefined. */
export async function findVmByInstanceUuid(
  client: VimClient,
  datacenter: MoRef,
  uuid: string,
): Promise<MoRef | undefined> {
  const response = await client.invoke(
    'FindByUuid',
    client.serviceContent.searchIndex,
    fragment(
      moRefXml('datacenter', datacenter),
      xml('uuid', uuid),
      xml('vmSearch', true),
      xml('instanceUuid', true),
    ),
  );
  const found = response.child('returnval');
  return found ? moRefOf(found) : undefined;
}

export function deviceChange(operation: 'add' | 'edit' | 'remove', device: RawXml): RawXml {
  return xml('deviceChange', fragment(xml('operation', operation), device));
}

export function networkBackingXml(network: NetworkBacking): RawXml {
  if (network.kind === 'standard') {
    return xml('backing', fragment(xml('deviceName', network.name), moRefXml('network', network.ref)), {
      'xsi:type': 'VirtualEthernetCardNetworkBackingInfo',
    });
  }
  return xml(
    'backing',
    xml('port', fragment(xml('switchUuid', network.switchUuid), xml('portgroupKey', network.portgroupKey))),
    { 'xsi:type': 'VirtualEthernetCardDistributedVirtualPortBackingInfo' },
  );
}

export async function powerState(client: VimClient, vm: MoRef): Promise<PowerState> {
  const props = await readProperties(client, vm, ['runtime.powerState']);
  return props.get('runtime.powerState')!.text as PowerState;
}

export async function powerOn(client: VimClient, vm: MoRef, onProgress?: ProgressCallback): Promise<void> {
  if ((await powerState(client, vm)) === 'poweredOn') return;
  const response = await client.invoke('PowerOnVM_Task', vm);
  await waitForTask(client, moRefOf(response.child('returnval')!), `power on ${vm.value}`, { onProgress });
}

export async function powerOff(client: VimClient, vm: MoRef): Promise<void> {
  if ((await powerState(client, vm)) === 'poweredOff') return;
  const response = await client.invoke('PowerOffVM_Task', vm);
  await waitForTask(client, moRefOf(response.child('returnval')!), `power off ${vm.value}`);
}

/**
 * Polls until the VM is powered off: a packaging VM is shut down by the admin when installation is
 * done, which may take days, so the caller (an activity that heartbeats on each poll) decides how long.
 */
export async function waitForPowerOff(
  client: VimClient,
  vm: MoRef,
  options: {
    pollMs?: number;
    timeoutMs?: number;
    signal?: AbortSignal;
    onPoll?: (state: PowerState) => void;
  } = {},
): Promise<boolean> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  for (;;) {
    const state = await powerState(client, vm);
    options.onPoll?.(state);
    if (state === 'poweredOff') return true;
    if (Date.now() >= deadline) return false;
    options.signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 5_000));
  }
}

/**
 * Asks the guest OS to shut down (VMware Tools), waits up to `graceMs` for it, then powers off.
 * Without Tools in the guest (ToolsUnavailable and the like) it powers off at once.
 */
export async function shutdown(
  client: VimClient,
  vm: MoRef,
  options: { graceMs?: number; pollMs?: number; signal?: AbortSignal } = {},
): Promise<'alreadyOff' | 'guest' | 'forced'> {
  if ((await powerState(client, vm)) === 'poweredOff') return 'alreadyOff';
  try {
    await client.invoke('ShutdownGuest', vm);
    const off = await waitForPowerOff(client, vm, {
      timeoutMs: options.graceMs ?? 5 * 60_000,
      pollMs: options.pollMs ?? 2_000,
      signal: options.signal,
    });
    if (off) return 'guest';
  } catch (err) {
    if (!(err instanceof VimFault)) throw err;
  }
  await powerOff(client, vm);
  return 'forced';
}

/** Takes a snapshot (without memory), or returns the existing one of that name. */
export async function createSnapshot(
  client: VimClient,
  vm: MoRef,
  name: string,
  description = '',
  onProgress?: ProgressCallback,
): Promise<MoRef> {
  const props = await readProperties(client, vm, ['snapshot']);
  const existing = findSnapshot(props.get('snapshot')?.child('rootSnapshotList'), name);
  if (existing) return existing;
  const response = await client.invoke(
    'CreateSnapshot_Task',
    vm,
    fragment(xml('name', name), xml('description', description), xml('memory', false), xml('quiesce', false)),
  );
  const result = await waitForTask(
    client,
    moRefOf(response.child('returnval')!),
    `snapshot '${name}' of ${vm.value}`,
    {
      onProgress,
    },
  );
  return moRefOf(result!);
}

/** Every snapshot in a VM's `snapshot` property (VirtualMachineSnapshotInfo), parents before children. */
export function snapshotsIn(
  info: XmlElement | undefined,
): { name: string; createTime: string; ref: MoRef }[] {
  const walk = (tree: XmlElement): { name: string; createTime: string; ref: MoRef }[] => [
    {
      name: tree.textOf('name') ?? '',
      createTime: tree.textOf('createTime') ?? '',
      ref: moRefOf(tree.child('snapshot')!),
    },
    ...tree.all('childSnapshotList').flatMap(walk),
  ];
  return (info?.all('rootSnapshotList') ?? []).flatMap(walk);
}

function findSnapshot(tree: XmlElement | undefined, name: string): MoRef | undefined {
  if (!tree) return undefined;
  if (tree.textOf('name') === name) return moRefOf(tree.child('snapshot')!);
  for (const child of tree.all('childSnapshotList')) {
    const found = findSnapshot(child, name);
    if (found) return found;
  }
  return undefined;
}

/** The datastore paths of the VM's disks, in device order. */
export async function diskPaths(client: VimClient, vm: MoRef): Promise<string[]> {
  const props = await readProperties(client, vm, ['config.hardware.device']);
  return (props.get('config.hardware.device')?.children ?? [])
    .filter((d) => d.type === 'VirtualDisk')
    .map((d) => d.at('backing', 'fileName')?.text ?? '')
    .filter(Boolean);
}

/**
 * Removes the VM's disks from its configuration without deleting their files: vSphere deletes every
 * disk still attached to a VM it destroys, and some disks (a packaging cache disk, a published master
 * disk) must outlive their VM.
 */
export async function detachDisks(client: VimClient, vm: MoRef): Promise<void> {
  const props = await readProperties(client, vm, ['config.hardware.device']);
  const disks = (props.get('config.hardware.device')?.children ?? []).filter((d) => d.type === 'VirtualDisk');
  if (disks.length === 0) return;
  const spec = xml(
    'spec',
    disks.map((d) =>
      // Removing without a fileOperation detaches; the files stay on the datastore.
      deviceChange(
        'remove',
        xml(
          'device',
          fragment(
            xml('key', d.textOf('key')),
            xml('controllerKey', d.textOf('controllerKey')),
            xml('unitNumber', d.textOf('unitNumber')),
            xml('capacityInKB', d.textOf('capacityInKB') ?? 0),
          ),
          { 'xsi:type': 'VirtualDisk' },
        ),
      ),
    ),
  );
  const response = await client.invoke('ReconfigVM_Task', vm, spec);
  await waitForTask(client, moRefOf(response.child('returnval')!), `detach disks of ${vm.value}`);
}

/** Powers off and destroys the VM; with `keepDisks` its disks are detached first and survive. */
export async function destroyVm(
  client: VimClient,
  vm: MoRef,
  options: { keepDisks?: boolean; onProgress?: ProgressCallback } = {},
): Promise<void> {
  await powerOff(client, vm);
  if (options.keepDisks) await detachDisks(client, vm);
  const response = await client.invoke('Destroy_Task', vm);
  await waitForTask(client, moRefOf(response.child('returnval')!), `destroy ${vm.value}`, {
    onProgress: options.onProgress,
  });
}
