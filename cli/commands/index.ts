import type { CommandEntry } from '../command';

/** Every `lamina` sub-command, in the order `lamina --help` lists them. */
export const commands: CommandEntry[] = [
  {
    name: 'up',
    summary: 'Start the whole appliance on embedded defaults, run diagnostics and the demo',
    load: async () => (await import('./up')).upCommand,
  },
  {
    name: 'api',
    summary: 'Run the HTTP API only (needs TEMPORAL_ADDRESS and DATABASE_URL)',
    load: async () => (await import('./roles')).apiCommand,
  },
  {
    name: 'worker',
    summary: 'Run a worker: both task queues or one (--queue; needs TEMPORAL_ADDRESS and DATABASE_URL)',
    load: async () => (await import('./worker')).workerCommand,
  },
  {
    name: 'ce',
    summary: 'Run a Compositing Engine (launched by the appliance for an offloaded compose)',
    load: async () => (await import('./ce')).ceCommand,
  },
  {
    name: 'admin',
    summary: 'Administration: rotate-key (re-encrypt all secrets under a new master key)',
    load: async () => (await import('./admin')).adminCommand,
  },
  {
    name: 'disk',
    summary: 'Inspect and convert virtual disk files (raw, VHD, VHDX, VMDK)',
    load: async () => (await import('./disk')).diskCommand,
  },
  {
    name: 'layer',
    summary:
      "Make, build and inspect layer disks; the appliance's layers and versions (list, create, add-version…)",
    load: async () => (await import('./layer')).layerCommand,
  },
  {
    name: 'compose',
    summary: 'Compose layers into a Windows disk image',
    load: async () => (await import('./compose')).composeCommand,
  },
  {
    name: 'ips',
    summary: 'Image Portability: export, upload, prepare, publish or run the phases (tasks on the appliance)',
    load: async () => (await import('./ips')).ipsCommand,
  },
  {
    name: 'task',
    summary: "The appliance's tasks: list, get, wait (progress bar), stop, retry",
    load: async () => (await import('./task')).taskCommand,
  },
  {
    name: 'template',
    summary:
      "Image templates: list, get, create, update, delete, clone, publish (--wait: progress bar); an image's conflict report",
    load: async () => (await import('./template')).templateCommand,
  },
  {
    name: 'connector',
    summary: "The appliance's connector configurations: list, get, create, update, delete, test",
    load: async () => (await import('./connector')).connectorCommand,
  },
  {
    name: 'junction',
    summary: 'Directory junctions (AD/LDAP sign-in): list, get, create, update, delete, test',
    load: async () => (await import('./junction')).junctionCommand,
  },
  {
    name: 'role',
    summary: 'Role assignments of directory users and groups: list, grant, delete; the roles',
    load: async () => (await import('./role-assignment')).roleCommand,
  },
  {
    name: 'token',
    summary: 'API tokens: list, create (prints the secret once), delete (revoke)',
    load: async () => (await import('./token')).tokenCommand,
  },
  {
    name: 'audit',
    summary: 'The audit log: list, filtered by actor, action, object, outcome, time',
    load: async () => (await import('./audit')).auditCommand,
  },
  {
    name: 'iscsi',
    summary: 'Serve layer disks over iSCSI as an offload task does (read-only LUNs, CHAP)',
    load: async () => (await import('./iscsi')).iscsiCommand,
  },
  {
    name: 'elastic',
    summary:
      'Elastic layers: assignments, what a logon mounts (resolve), sync a share, the JSON Schemas of its files',
    load: async () => (await import('./elastic')).elasticCommand,
  },
  {
    name: 'layer-transfer',
    summary: 'Export layer versions to a share folder, or import an export from another appliance',
    load: async () => (await import('./layer-transfer')).layerTransferCommand,
  },
  {
    name: 'user-layer',
    summary: "User layers: where a user's layer for an OS layer is (resolve); storage locations",
    load: async () => (await import('./user-layer')).userLayerCommand,
  },
  {
    name: 'vm',
    summary: "Act inside the local connector's VMs (install, shut down, report scripts)",
    load: async () => (await import('./vm')).vmCommand,
  },
  {
    name: 'dev',
    summary: 'Developer tools (synthetic gold image)',
    load: async () => (await import('./dev')).devCommand,
  },
];
