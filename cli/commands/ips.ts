import type { Task } from '../../api/tasks/task-service';
import { API_OPTION_HELP, applianceApi } from '../appliance-api';
import { UsageError, type CliCommand } from '../command';
import { parseOptions, required, type ParsedOptions } from '../options';
import { followTask, printTask } from './task-follow';

const PREPARE_SWITCHES = [
  'DomainUnjoin',
  'InstallUpl',
  'Chkdsk',
  'Defrag',
  'EnableRdp',
  'XdReconfigure',
] as const;

const usage = `Usage:
  lamina ips export  --source CONNECTOR --vm VM [--disk NAME] --share CONNECTOR --name NAME
  lamina ips upload  --share CONNECTOR --file FILE --target CONNECTOR [--blob NAME]
  lamina ips prepare --share CONNECTOR --file FILE --target CONNECTOR --provisioning MCS|PVS
                     [--platform azure|vsphere|local] [--output FILE] [PREPARE OPTIONS]
  lamina ips prepare --source-blob NAME --target AZURE-CONNECTOR --provisioning MCS|PVS
                     [--output-blob NAME] [PREPARE OPTIONS]
  lamina ips publish --share CONNECTOR --file FILE --target CONNECTOR --provisioning MCS|PVS --name NAME
                     [--blob NAME]
  lamina ips run     --from MCS|PVS --to MCS|PVS --share CONNECTOR --target CONNECTOR --name NAME
                     (--source CONNECTOR --vm VM | --disk FILE) [--platform P] [PREPARE OPTIONS]
Every command: [--wait] [--json] [--api URL]

Image Portability, as the Citrix.AppLayering cmdlets do it: each command starts one task on the running
appliance (POST /api/ips/...) and prints it; --wait follows it to its end (a progress bar on a terminal)
and prints its result; --json prints the task as JSON. CONNECTOR is a connector id (lamina connector list).
  export   a VM's disk (local or vSphere connector) → <name>.vhdx on the share, with its SHA-256
  upload   a disk on the share → Azure: a fixed-VHD page blob in the connector's container (resumable);
           vSphere: a disk on the connector's datastore; a file share: a copy there
  prepare  a copy of a disk on the share made fit for the target, offline: in a Compositing Engine
           when the target (local or vSphere connector) has Offload Compositing on, else on the
           appliance; run to Azure with Offload Compositing: upload, then prepare in an Azure engine.
           --source-blob: a page blob already in the Azure connector's container (an upload) prepared
           in a Compositing Engine in Azure into --output-blob (NAME.vhd for NAME-source.vhd, else
           NAME-prepared.vhd; an existing blob is not overwritten); the source blob is left as it is.
           Needs Offload Compositing on the connector (the appliance does not prepare a blob in Azure)
  publish  PVS: <name>.vhdx and <name>.pvp into the store (a file share connector on its path);
           MCS: a master image VM on vSphere or the local connector; on Azure a managed disk, image
           and master image VM made from the uploaded blob (--blob; the file's name with .vhd)
  run      the phases the source → target pair needs: MCS→MCS export, prepare, upload and publish
           (Azure) or publish (hypervisor); MCS→PVS export, prepare, publish; PVS→MCS and PVS→PVS
           start at prepare
PREPARE OPTIONS (the cmdlet's names): --DomainUnjoin --InstallUpl --Chkdsk --Defrag --EnableRdp
  --XdReconfigure --Timeout MINUTES, and uploads they use (upload ids, POST /api/uploads):
  --guest-agent ID (zip of the target's guest agent) --domain-join-blob ID (djoin /provision output)
  --upl-installer ID (zip with the User Personalization Layer .msi)
The exit code is 0 when the task was started (or, with --wait, completed), 1 otherwise.
${API_OPTION_HELP}`;

function prepareFields(options: ParsedOptions): Record<string, unknown> {
  const timeout = options.values.get('Timeout');
  if (timeout !== undefined && !/^\d+$/.test(timeout))
    throw new UsageError('--Timeout must be whole minutes');
  const upload = (flag: string, field: string) =>
    options.values.has(flag) ? { [field]: options.values.get(flag) } : {};
  return {
    ...Object.fromEntries(PREPARE_SWITCHES.filter((s) => options.flags.has(s)).map((s) => [s, true])),
    ...(timeout ? { Timeout: Number(timeout) } : {}),
    ...(options.values.has('platform') ? { platform: options.values.get('platform') } : {}),
    ...upload('guest-agent', 'guestAgent'),
    ...upload('domain-join-blob', 'domainJoinBlob'),
    ...upload('upl-installer', 'uplInstaller'),
  };
}

/** The request body of each sub-command, from its flags. */
const BODIES: Record<string, (o: ParsedOptions) => Record<string, unknown>> = {
  export: (o) => ({
    sourceConnectorId: required(o, 'source'),
    vmId: required(o, 'vm'),
    ...(o.values.has('disk') ? { disk: o.values.get('disk') } : {}),
    shareConnectorId: required(o, 'share'),
    name: required(o, 'name'),
  }),
  upload: (o) => ({
    shareConnectorId: required(o, 'share'),
    fileName: required(o, 'file'),
    targetConnectorId: required(o, 'target'),
    ...(o.values.has('blob') ? { blobName: o.values.get('blob') } : {}),
  }),
  prepare: (o) => ({
    ...(o.values.has('source-blob')
      ? {
          sourceBlob: o.values.get('source-blob'),
          ...(o.values.has('output-blob') ? { outputBlob: o.values.get('output-blob') } : {}),
        }
      : { shareConnectorId: required(o, 'share'), fileName: required(o, 'file') }),
    targetConnectorId: required(o, 'target'),
    provisioningType: required(o, 'provisioning'),
    ...(o.values.has('output') ? { output: o.values.get('output') } : {}),
    ...prepareFields(o),
  }),
  publish: (o) => ({
    shareConnectorId: required(o, 'share'),
    fileName: required(o, 'file'),
    targetConnectorId: required(o, 'target'),
    provisioningType: required(o, 'provisioning'),
    name: required(o, 'name'),
    ...(o.values.has('blob') ? { blobName: o.values.get('blob') } : {}),
  }),
  run: (o) => ({
    sourceProvisioning: required(o, 'from'),
    targetProvisioning: required(o, 'to'),
    shareConnectorId: required(o, 'share'),
    targetConnectorId: required(o, 'target'),
    name: required(o, 'name'),
    ...(o.values.has('source') ? { sourceConnectorId: o.values.get('source'), vmId: required(o, 'vm') } : {}),
    ...(o.values.has('disk') ? { sourceDisk: o.values.get('disk') } : {}),
    ...prepareFields(o),
  }),
};

export const ipsCommand: CliCommand = {
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    const body = sub === undefined ? undefined : BODIES[sub];
    if (!body) throw new UsageError(`unknown ips command ${sub ?? '(none)'}\n\n${usage}`);
    const options = parseOptions(rest, {
      ...Object.fromEntries(PREPARE_SWITCHES.map((s) => [s, 'flag' as const])),
      ...Object.fromEntries(
        [
          'source',
          'vm',
          'disk',
          'share',
          'name',
          'file',
          'target',
          'blob',
          'provisioning',
          'platform',
          'output',
          'source-blob',
          'output-blob',
          'from',
          'to',
          'Timeout',
          'guest-agent',
          'domain-join-blob',
          'upl-installer',
          'api',
        ].map((v) => [v, 'value' as const]),
      ),
      wait: 'flag',
      json: 'flag',
    });
    if (options.positional.length > 0)
      throw new UsageError(`unexpected ${options.positional.join(' ')}\n\n${usage}`);
    const api = applianceApi(options);
    const started = await api.post<Task>(`/api/ips/${sub}`, body(options));
    const task = options.flags.has('wait') ? await followTask(api, started.id) : started;
    return printTask(task, options.flags.has('json'));
  },
};
