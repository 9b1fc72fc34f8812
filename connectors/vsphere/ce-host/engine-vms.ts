import { listObjects, moRefXml, readProperties } from '../property-collector';
import { waitForTask } from '../tasks';
import type { VimClient } from '../vim-client';
import { moRefOf, type MoRef } from '../vim-fault';
import { deviceChange, extraConfigOf, networkBackingXml, type VmPlacement } from '../virtual-machines';
import { fragment, xml } from '../xml';

/**
 * Compositing Engine VMs: clones of the connector's engine template VM, in the configured folder,
 * resource pool, host, datastore and network, marked in their advanced configuration so that they are
 * found (and counted) by the engine id the workflow chose, which is also their instance UUID.
 */
export const ENGINE_MARK = 'lamina.engine';
/** What the guest reads with `vmtoolsd --cmd "info-get guestinfo.lamina.ce.environment"`. */
export const ENGINE_ENVIRONMENT_KEY = 'guestinfo.lamina.ce.environment';
/** The key of the engine's own vCenter session, by which its removal ends it (not a credential). */
export const ENGINE_SESSION_KEY = 'lamina.engine.session';

const NIC_TYPES = ['VirtualVmxnet3', 'VirtualE1000e', 'VirtualE1000', 'VirtualVmxnet2', 'VirtualPCNet32'];

/** Clones `template` as engine `id`, with its environment in guestinfo, on the configured network. */
export async function cloneEngineVm(
  client: VimClient,
  template: MoRef,
  request: {
    id: string;
    name: string;
    placement: VmPlacement;
    datastore: MoRef;
    environment: Record<string, string>;
    sessionKey: string;
  },
): Promise<MoRef> {
  const { placement } = request;
  const devices = (await readProperties(client, template, ['config.hardware.device']))
    .get('config.hardware.device')
    ?.children.filter((d) => NIC_TYPES.includes(d.type ?? ''));
  // The template's first NIC moves to the connector's network: the engine reaches the appliance there.
  const nic = devices?.[0];
  const nicChange = nic
    ? deviceChange(
        'edit',
        xml(
          'device',
          fragment(
            xml('key', nic.textOf('key')),
            networkBackingXml(placement.network),
            xml(
              'connectable',
              fragment(xml('startConnected', true), xml('allowGuestControl', true), xml('connected', false)),
            ),
            xml('addressType', 'generated'),
          ),
          { 'xsi:type': nic.type! },
        ),
      )
    : undefined;
  const values = engineConfig(request.id, request.environment, request.sessionKey);
  const spec = xml(
    'spec',
    fragment(
      // vim25 checks the order of the spec's elements: it follows the schema.
      xml(
        'location',
        fragment(
          moRefXml('datastore', request.datastore),
          moRefXml('pool', placement.resourcePool),
          placement.host && moRefXml('host', placement.host),
        ),
      ),
      xml('template', false),
      xml(
        'config',
        fragment(
          xml('instanceUuid', request.id),
          nicChange,
          Object.entries(values).map(([key, value]) =>
            xml('extraConfig', fragment(xml('key', key), xml('value', value, { 'xsi:type': 'xsd:string' }))),
          ),
        ),
      ),
      xml('powerOn', false),
    ),
  );
  const response = await client.invoke(
    'CloneVM_Task',
    template,
    fragment(moRefXml('folder', placement.folder), xml('name', request.name), spec),
  );
  const result = await waitForTask(
    client,
    moRefOf(response.child('returnval')!),
    `clone Compositing Engine '${request.name}'`,
  );
  const vm = moRefOf(result!);
  await markEngineVm(client, vm, request.id, values);
  return vm;
}

/**
 * Sets the engine's id and environment on its VM (again: vcsim's clone drops the spec's configuration,
 * and a retry after a clone whose activity died finds the VM by name, unmarked).
 */
export async function markEngineVm(
  client: VimClient,
  vm: MoRef,
  id: string,
  values: Record<string, string>,
): Promise<void> {
  const spec = xml(
    'spec',
    fragment(
      xml('instanceUuid', id),
      Object.entries(values).map(([key, value]) =>
        xml('extraConfig', fragment(xml('key', key), xml('value', value, { 'xsi:type': 'xsd:string' }))),
      ),
    ),
  );
  const response = await client.invoke('ReconfigVM_Task', vm, spec);
  await waitForTask(client, moRefOf(response.child('returnval')!), `mark Compositing Engine ${id}`);
}

/**
 * The advanced configuration that marks engine `id`, hands its guest the environment and keeps the key of
 * the vCenter session it was given.
 */
export function engineConfig(
  id: string,
  environment: Record<string, string>,
  sessionKey: string,
): Record<string, string> {
  return {
    [ENGINE_MARK]: id,
    [ENGINE_ENVIRONMENT_KEY]: Buffer.from(JSON.stringify(environment)).toString('base64'),
    [ENGINE_SESSION_KEY]: sessionKey,
  };
}

/** The key of the vCenter session engine VM `vm` was given, if it has one. */
export async function engineSessionKey(client: VimClient, vm: MoRef): Promise<string | undefined> {
  const config = (await readProperties(client, vm, ['config.extraConfig'])).get('config.extraConfig');
  return extraConfigOf(config).get(ENGINE_SESSION_KEY) || undefined;
}

/** Engine VMs in `folder`: engine id → VM. */
export async function engineVms(client: VimClient, folder: MoRef): Promise<Map<string, MoRef>> {
  const found = await listObjects(client, 'VirtualMachine', ['config.extraConfig'], folder);
  const engines = new Map<string, MoRef>();
  for (const o of found) {
    const id = extraConfigOf(o.props.get('config.extraConfig')).get(ENGINE_MARK);
    if (id) engines.set(id, o.ref);
  }
  return engines;
}

/** The datastore of that name in the datacenter (a clone's location names it by reference). */
export async function datastoreRef(client: VimClient, datacenter: MoRef, name: string): Promise<MoRef> {
  const found = await listObjects(client, 'Datastore', ['name'], datacenter);
  const match = found.find((o) => o.props.get('name')?.text === name);
  if (!match) throw new Error(`datastore '${name}' not found`);
  return match.ref;
}

/** `[ds] folder/name.vmx` → `folder/`, the VM's own folder on its datastore. */
export async function vmFolderPath(client: VimClient, vm: MoRef): Promise<string | undefined> {
  const vmx = (await readProperties(client, vm, ['config.files.vmPathName'])).get(
    'config.files.vmPathName',
  )?.text;
  const match = vmx && /^\[[^\]]+\]\s*(.+)\/[^/]+$/.exec(vmx);
  return match ? `${match[1]}/` : undefined;
}
