import type { HiveName } from '../../registry';

/**
 * The exclusion list of capture (ARCHITECTURE.md §4): what a packaging machine changes that belongs
 * to that machine or that boot, not to the software installed on it. Versioned: a capture report
 * names the version it applied, and a change to the list is a new version.
 *
 * File patterns are Windows paths below the volume root whose segments may hold `*` (any
 * characters within one segment); a pattern leaves out what it names and everything below it.
 * Registry patterns are `HIVE\key\path` the same way, CurrentControlSet standing for the current
 * control set (registry/hive-diff.ts names it so); `value` narrows a rule to one value of the key.
 */

export const EXCLUSION_LIST_VERSION = 1;

export interface FileRule {
  id: string;
  description: string;
  paths: string[];
}

export interface RegistryRule {
  id: string;
  description: string;
  keys: string[];
  /** Only this value of the keys (any value when absent: the whole key tree). */
  value?: string;
}

export const FILE_RULES: readonly FileRule[] = [
  {
    id: 'paging-files',
    description: 'paging, hibernation and swap files',
    paths: ['pagefile.sys', 'hiberfil.sys', 'swapfile.sys'],
  },
  { id: 'recycle-bin', description: "the recycle bin's deleted files", paths: ['$Recycle.Bin'] },
  {
    id: 'system-volume-information',
    description: 'restore points, shadow copies and indexer data',
    paths: ['System Volume Information'],
  },
  { id: 'windows-temp', description: "Windows' temporary files", paths: ['Windows\\Temp'] },
  { id: 'prefetch', description: 'prefetch traces of programs started', paths: ['Windows\\Prefetch'] },
  {
    id: 'update-downloads',
    description: 'Windows Update and Delivery Optimization downloads',
    paths: [
      'Windows\\SoftwareDistribution\\Download',
      'Windows\\ServiceProfiles\\NetworkService\\AppData\\Local\\Microsoft\\Windows\\DeliveryOptimization',
    ],
  },
  {
    id: 'logs',
    description: 'logs, event logs, crash reports and ETL traces',
    paths: [
      'Windows\\Logs',
      'Windows\\Panther',
      'Windows\\debug',
      'Windows\\*.log',
      'Windows\\System32\\LogFiles',
      'Windows\\System32\\winevt\\Logs',
      'Windows\\System32\\sru',
      'ProgramData\\Microsoft\\Windows\\WER',
      'ProgramData\\Microsoft\\Diagnosis',
      '**\\*.etl',
    ],
  },
  {
    id: 'profile-temp',
    description: "user and service profiles' temporary files",
    paths: [
      'Users\\*\\AppData\\Local\\Temp',
      'Windows\\ServiceProfiles\\*\\AppData\\Local\\Temp',
      'Windows\\System32\\config\\systemprofile\\AppData\\Local\\Temp',
    ],
  },
  {
    id: 'registry-hives',
    description:
      'registry hive files and their logs: the machine hives are captured as registry.reg, user hives belong to user profiles',
    paths: [
      'Windows\\System32\\config',
      'Users\\*\\NTUSER.DAT*',
      'Users\\*\\AppData\\Local\\Microsoft\\Windows\\UsrClass.dat*',
    ],
  },
  { id: 'lamina-metadata', description: "a layer disk's own metadata folder", paths: ['.lamina'] },
];

export const REGISTRY_RULES: readonly RegistryRule[] = [
  {
    id: 'mounted-devices',
    description: "drive letters and volume GUIDs of this machine's disks",
    keys: ['SYSTEM\\MountedDevices'],
  },
  {
    id: 'dhcp-leases',
    description: 'network interfaces and their DHCP leases',
    keys: [
      'SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces',
      'SYSTEM\\CurrentControlSet\\Services\\Tcpip6\\Parameters\\Interfaces',
      'SYSTEM\\CurrentControlSet\\Services\\Dhcp\\Parameters\\Configurations',
    ],
  },
  {
    id: 'device-enumeration',
    description: "the devices Plug and Play found on this machine's hardware",
    keys: [
      'SYSTEM\\CurrentControlSet\\Enum',
      'SYSTEM\\CurrentControlSet\\Control\\DeviceClasses',
      'SYSTEM\\CurrentControlSet\\Control\\DeviceContainers',
      'SYSTEM\\CurrentControlSet\\Services\\*\\Enum',
    ],
  },
  {
    id: 'rng-seed',
    description: "the random number generator's seed",
    keys: ['SYSTEM\\RNG', 'SOFTWARE\\Microsoft\\Cryptography\\RNG'],
  },
  {
    id: 'shutdown-times',
    description: 'when the machine last shut down',
    keys: ['SYSTEM\\CurrentControlSet\\Control\\Windows'],
    value: 'ShutdownTime',
  },
  {
    id: 'other-control-sets',
    description: 'control sets other than the current one, and which one booted (Select)',
    keys: ['SYSTEM\\ControlSet*', 'SYSTEM\\Select'],
  },
  {
    id: 'activity-tracking',
    description: 'per-user program run times (Background Activity Moderator)',
    keys: ['SYSTEM\\CurrentControlSet\\Services\\bam\\State'],
  },
  {
    id: 'network-history',
    description: 'networks this machine has seen',
    keys: ['SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\NetworkList'],
  },
];

/** Matches path segments against pattern segments: `*` within a segment, `**` for any segments. */
function segmentsMatch(pattern: RegExp[] | null[], path: string[]): boolean {
  const match = (p: number, s: number): boolean => {
    if (p === pattern.length) return true; // a prefix: the pattern names a folder or key tree
    const part = pattern[p];
    if (part === null) return [...Array(path.length - s + 1).keys()].some((skip) => match(p + 1, s + skip));
    return s < path.length && part.test(path[s]) && match(p + 1, s + 1);
  };
  return match(0, 0);
}

function compile(pattern: string): (RegExp | null)[] {
  return pattern
    .split('\\')
    .map((segment) =>
      segment === '**'
        ? null
        : new RegExp(`^${segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'),
    );
}

export interface CompiledRule {
  id: string;
  description: string;
  patterns: (RegExp | null)[][];
  value?: string;
}

function compileRules(rules: readonly (FileRule | RegistryRule)[]): CompiledRule[] {
  return rules.map((rule) => ({
    id: rule.id,
    description: rule.description,
    patterns: ('paths' in rule ? rule.paths : rule.keys).map(compile),
    value: 'value' in rule ? rule.value : undefined,
  }));
}

const FILES = compileRules(FILE_RULES);
const REGISTRY = compileRules(REGISTRY_RULES);

function firstMatch(rules: CompiledRule[], path: string[]): CompiledRule | undefined {
  return rules.find((rule) => rule.patterns.some((pattern) => segmentsMatch(pattern as RegExp[], path)));
}

/** The rule leaving out a file or folder (a `/`-separated volume path), if any. */
export function excludedFile(volumePath: string): string | undefined {
  return firstMatch(FILES, volumePath.split('/').filter(Boolean))?.id;
}

/** The rule leaving out a registry key tree of `hive`, if any. */
export function excludedKey(hive: HiveName, path: string[]): string | undefined {
  return firstMatch(
    REGISTRY.filter((rule) => rule.value === undefined),
    [hive, ...path],
  )?.id;
}

/** The rule leaving out one value of a key of `hive`, if any. */
export function excludedValue(hive: HiveName, path: string[], name: string): string | undefined {
  return REGISTRY.filter(
    (rule) => rule.value !== undefined && rule.value.toUpperCase() === name.toUpperCase(),
  ).find((rule) =>
    rule.patterns.some(
      (pattern) => pattern.length === path.length + 1 && segmentsMatch(pattern as RegExp[], [hive, ...path]),
    ),
  )?.id;
}

/** Every rule, for the report: id, description and what it names. */
export function describeRules(): {
  id: string;
  kind: 'file' | 'registry';
  description: string;
  patterns: string[];
}[] {
  return [
    ...FILE_RULES.map((r) => ({
      id: r.id,
      kind: 'file' as const,
      description: r.description,
      patterns: r.paths,
    })),
    ...REGISTRY_RULES.map((r) => ({
      id: r.id,
      kind: 'registry' as const,
      description: r.description,
      patterns: r.value ? r.keys.map((k) => `${k} "${r.value}"`) : r.keys,
    })),
  ];
}
