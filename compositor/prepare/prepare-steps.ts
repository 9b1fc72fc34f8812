import type { ImageFacts } from './image-facts';
import type { PrepareOptions, PrepareStepRecord } from './prepare-options';

/**
 * One prepare step, as what it writes: .reg lines (HKLM, regedit format; `CurrentControlSet` is
 * resolved through Select), Windows paths to delete, files to place (Windows path → bytes or a local file
 * or zip to unpack there), and the record of what it changed.
 */
export interface PlannedStep extends PrepareStepRecord {
  reg: string[];
  deletions: string[];
  files: { path: string; content: Buffer }[];
  /** Folders or zips whose tree goes below `at` (a guest agent package). */
  trees: { at: string; from: string }[];
}

const SERVICES = 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services';
const CONTROL = 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control';
const SETUP_SCRIPT = '\\Windows\\Setup\\Scripts\\SetupComplete.cmd';
const ANSWER_FILE = '\\Windows\\Panther\\unattend.xml';
const LAMINA_SETUP = '\\Windows\\Setup\\Lamina';

/** VMware Tools' services and drivers as installed on Windows (names compared without case). */
const VMWARE_SERVICES = [
  'VMTools',
  'VGAuthService',
  'VMUSBArbService',
  'vmStatsProvider',
  'vm3dservice',
  'vm3dmp',
  'vm3dmp_loader',
  'vm3dmp-debug',
  'vm3dmp-stats',
  'vmci',
  'vmhgfs',
  'vmmemctl',
  'vmmouse',
  'vmusbmouse',
  'vmrawdsk',
  'vmvss',
  'vsock',
  'vmxnet3ndis6',
  'pvscsi',
  'vnetWFP',
].map((s) => s.toLowerCase());
const VMWARE_TOOLS_DIR = '/Program Files/VMware';

function step(name: string): PlannedStep {
  return { step: name, changes: [], reg: [], deletions: [], files: [], trees: [] };
}

function setValue(s: PlannedStep, key: string, name: string, value: string, shown: string): void {
  s.reg.push(`[${key}]`, `"${name}"=${value}`, '');
  s.changes.push(`set ${key.replace('HKEY_LOCAL_MACHINE', 'HKLM')}\\${name} = ${shown}`);
}

function dword(n: number): string {
  return `dword:${n.toString(16).padStart(8, '0')}`;
}

function placeFile(s: PlannedStep, windowsPath: string, content: Buffer): void {
  s.files.push({ path: windowsPath, content });
  s.changes.push(`wrote ${windowsPath} (${content.length} bytes)`);
}

/**
 * The steps that make an image fit its target platform and provisioning, from the options and what the
 * image holds (image-facts.ts). Steps that find nothing to do say so rather than vanish from the record.
 */
export function planPrepareSteps(
  facts: ImageFacts,
  options: PrepareOptions,
  domainJoinBlob?: string,
): PlannedStep[] {
  const steps: PlannedStep[] = [];
  const firstStart: string[] = [];

  // 1. The source platform's tools: VMware Tools, unless the image stays on vSphere.
  const remove = step('RemoveSourcePlatformTools');
  if (options.platform !== 'vsphere') {
    for (const service of facts.services.filter((s) => VMWARE_SERVICES.includes(s.toLowerCase()))) {
      remove.reg.push(`[-${SERVICES}\\${service}]`, '');
      remove.changes.push(`deleted service HKLM\\SYSTEM\\CurrentControlSet\\Services\\${service}`);
    }
    if (facts.programFiles.some((p) => p === VMWARE_TOOLS_DIR)) {
      remove.deletions.push('\\Program Files\\VMware');
      remove.changes.push('deleted \\Program Files\\VMware (VMware Tools)');
    }
  }
  if (remove.changes.length === 0)
    remove.changes.push(
      options.platform === 'vsphere'
        ? 'kept: the image stays on vSphere'
        : 'nothing to remove: no VMware Tools found',
    );
  steps.push(remove);

  // 2. The target's tools and settings (Azure's are documented in "Prepare a Windows VHD for Azure").
  if (options.platform === 'azure') {
    const agent = step('AddTargetPlatformTools');
    if (options.guestAgent) {
      agent.trees.push({ at: '\\WindowsAzure', from: options.guestAgent });
      agent.changes.push('placed the Azure guest agent package under \\WindowsAzure');
      firstStart.push(
        'if exist "%SystemDrive%\\WindowsAzure\\install.cmd" call "%SystemDrive%\\WindowsAzure\\install.cmd"',
      );
      agent.changes.push('first start runs \\WindowsAzure\\install.cmd');
    } else {
      agent.changes.push('no guest agent package given: the VM gets none until one is installed');
    }
    setValue(agent, `${SERVICES}\\Dhcp`, 'Start', dword(2), 'automatic (DHCP client)');
    for (const nic of facts.interfaces)
      setValue(agent, `${SERVICES}\\Tcpip\\Parameters\\Interfaces\\${nic}`, 'EnableDHCP', dword(1), '1');
    setValue(
      agent,
      `${SERVICES}\\partmgr\\Parameters`,
      'SanPolicy',
      dword(1),
      '1 (OnlineAll: data disks come online)',
    );
    setValue(agent, `${SERVICES}\\sacsvr`, 'Start', dword(2), 'automatic (serial console, SAC)');
    setValue(
      agent,
      `${CONTROL}\\TimeZoneInformation`,
      'RealTimeIsUniversal',
      dword(1),
      '1 (Azure hosts keep UTC)',
    );
    steps.push(agent);
  }

  // 3. Remote Desktop.
  if (options.EnableRdp || options.platform === 'azure') {
    const rdp = step('EnableRdp');
    setValue(rdp, `${CONTROL}\\Terminal Server`, 'fDenyTSConnections', dword(0), '0 (connections allowed)');
    setValue(rdp, `${CONTROL}\\Terminal Server\\WinStations\\RDP-Tcp`, 'PortNumber', dword(3389), '3389');
    setValue(
      rdp,
      `${CONTROL}\\Terminal Server\\WinStations\\RDP-Tcp`,
      'UserAuthentication',
      dword(1),
      '1 (NLA)',
    );
    setValue(rdp, `${SERVICES}\\TermService`, 'Start', dword(2), 'automatic');
    steps.push(rdp);
  }

  // 4. Domain: leave it, or join the target's offline (the blob `djoin /provision` saved).
  const domain = step('Domain');
  if (options.DomainUnjoin || domainJoinBlob) {
    setValue(domain, `${SERVICES}\\Tcpip\\Parameters`, 'Domain', '""', 'empty (no domain suffix)');
    setValue(domain, `${SERVICES}\\Tcpip\\Parameters`, 'NV Domain', '""', 'empty');
    setValue(domain, `${SERVICES}\\Netlogon`, 'Start', dword(3), 'manual (no domain secure channel)');
  }
  if (domainJoinBlob) domain.changes.push('the answer file carries the offline domain-join blob');
  if (domain.changes.length === 0) domain.changes.push('kept the domain membership as it was');
  steps.push(domain);

  // 5. First-start work the options ask for.
  const firstBoot = step('FirstStart');
  if (options.Chkdsk) {
    setValue(
      firstBoot,
      `${CONTROL}\\Session Manager`,
      'BootExecute',
      regMultiString(['autocheck autochk /p \\??\\C:', 'autocheck autochk *']),
      'autochk /p C: before Windows mounts it, then the default check',
    );
  }
  if (options.Defrag) firstStart.push('defrag.exe %SystemDrive% /O /U');
  if (options.InstallUpl) {
    if (!options.uplInstaller)
      throw new PrepareInputError('InstallUpl needs the User Personalization Layer installer (uplInstaller)');
    firstBoot.trees.push({ at: `${LAMINA_SETUP}\\upl`, from: options.uplInstaller });
    firstBoot.changes.push(`placed the User Personalization Layer installer under ${LAMINA_SETUP}\\upl`);
    firstStart.push(
      `for %%m in ("%SystemRoot%\\Setup\\Lamina\\upl\\*.msi") do msiexec.exe /i "%%m" /qn /norestart`,
    );
  }
  if (options.XdReconfigure) {
    if (facts.vdaKeys.includes('State')) {
      firstBoot.reg.push(`[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\State]`, '');
      firstBoot.changes.push(
        'deleted HKLM\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\State (VDA registers anew)',
      );
    } else firstBoot.changes.push('no Citrix VDA registration state found: nothing to reconfigure');
  }
  if (firstStart.length > 0) {
    const script = ['@echo off', 'rem Lamina Image Portability: first-start work', ...firstStart, ''].join(
      '\r\n',
    );
    placeFile(firstBoot, SETUP_SCRIPT, Buffer.from(script));
  }
  if (firstBoot.changes.length === 0) firstBoot.changes.push('no first-start work asked for');
  steps.push(firstBoot);

  // 6. Generalize and specialize: the sysprep answer file, with the offline domain join when given.
  const answer = step('SysprepAnswerFile');
  placeFile(answer, ANSWER_FILE, Buffer.from(answerFile(domainJoinBlob)));
  steps.push(answer);

  // 7. The provisioning the image is prepared for.
  const provisioning = step('ProvisioningMode');
  setValue(
    provisioning,
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\ImagePortability',
    'ProvisioningType',
    `"${options.provisioningType}"`,
    options.provisioningType,
  );
  setValue(
    provisioning,
    'HKEY_LOCAL_MACHINE\\SOFTWARE\\Lamina\\ImagePortability',
    'Platform',
    `"${options.platform}"`,
    options.platform,
  );
  if (options.provisioningType === 'PVS') {
    // Citrix Provisioning streams over the NIC: its target device software requires task offload off.
    setValue(
      provisioning,
      `${SERVICES}\\Tcpip\\Parameters`,
      'DisableTaskOffload',
      dword(1),
      '1 (PVS streaming)',
    );
  }
  steps.push(provisioning);
  return steps;
}

/** An input the prepare options refer to is missing or unusable: retrying does not help. */
export class PrepareInputError extends Error {
  override name = 'PrepareInputError';
}

/** REG_MULTI_SZ in regedit's hex(7) form: UTF-16LE strings, each NUL-terminated, then a final NUL. */
function regMultiString(items: string[]): string {
  const bytes = Buffer.from(items.map((i) => `${i}\0`).join('') + '\0', 'utf16le');
  return `hex(7):${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
}

/** An unattend.xml for `sysprep /generalize /oobe`: generalize, skip the OOBE pages, the offline join. */
function answerFile(domainJoinBlob: string | undefined): string {
  const join = domainJoinBlob
    ? `
    <component name="Microsoft-Windows-UnattendedJoin" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <OfflineIdentification>
        <Provisioning>
          <AccountData>${domainJoinBlob}</AccountData>
        </Provisioning>
      </OfflineIdentification>
    </component>`
    : '';
  return `<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="generalize">
    <component name="Microsoft-Windows-PnpSysprep" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <PersistAllDeviceInstalls>false</PersistAllDeviceInstalls>
    </component>
  </settings>
  <settings pass="specialize">${join}
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <OOBE>
        <HideEULAPage>true</HideEULAPage>
        <SkipMachineOOBE>true</SkipMachineOOBE>
        <ProtectYourPC>3</ProtectYourPC>
      </OOBE>
    </component>
  </settings>
</unattend>
`;
}
