import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ComposeError } from '../../compositor/errors';
import { prepareImage } from '../../compositor/prepare/prepare-image';
import { PrepareInputError } from '../../compositor/prepare/prepare-steps';
import { run } from '../../lib/processes';
import { scratchDir } from '../vsphere/fixtures';
import { exportHive, makeVmwareWindowsDisk, ntfscat, ntfsls, windowsVolume } from './fixtures';

let dir: string;
let source: string;

beforeAll(async () => {
  dir = scratchDir('ips-prepare');
  source = await makeVmwareWindowsDisk(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('prepare for Azure and MCS, checked with hivexregedit and ntfscat', () => {
  let volume: string;
  let report: Awaited<ReturnType<typeof prepareImage>>;
  let sourceHash: string;

  beforeAll(async () => {
    sourceHash = sha(source);
    const agent = path.join(dir, 'agent');
    fs.mkdirSync(agent);
    fs.writeFileSync(path.join(agent, 'WindowsAzureGuestAgent.exe'), 'MZ agent');
    fs.writeFileSync(path.join(agent, 'install.cmd'), 'sc create RdAgent');
    // djoin /provision /savefile writes base64 as UTF-16LE with a byte-order mark.
    const blob = path.join(dir, 'odj.txt');
    const blobText = Buffer.from('lamina offline domain join provisioning data').toString('base64');
    fs.writeFileSync(
      blob,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${blobText}\r\n`, 'utf16le')]),
    );
    const prepared = path.join(dir, 'prepared.vhdx');
    report = await prepareImage(source, prepared, {
      provisioningType: 'MCS',
      platform: 'azure',
      DomainUnjoin: true,
      EnableRdp: true,
      Chkdsk: true,
      Defrag: true,
      XdReconfigure: true,
      guestAgent: agent,
      domainJoinBlob: blob,
    });
    volume = await windowsVolume(prepared, dir);
  });

  it('leaves the source disk as it was', () => {
    expect(sha(source)).toBe(sourceHash);
  });

  it('removes VMware Tools services, drivers and files', async () => {
    const services = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services', dir);
    expect(services).not.toMatch(/\\Services\\VMTools\]/);
    expect(services).not.toMatch(/\\Services\\vmci\]/);
    expect(services).not.toMatch(/\\Services\\vmxnet3ndis6\]/);
    expect(await ntfsls(volume, '/Program Files')).not.toContain('VMware');
    expect(report.steps[0]).toEqual({
      step: 'RemoveSourcePlatformTools',
      changes: [
        'deleted service HKLM\\SYSTEM\\CurrentControlSet\\Services\\vmci',
        'deleted service HKLM\\SYSTEM\\CurrentControlSet\\Services\\VMTools',
        'deleted service HKLM\\SYSTEM\\CurrentControlSet\\Services\\vmxnet3ndis6',
        'deleted \\Program Files\\VMware (VMware Tools)',
      ],
    });
  });

  it("adds Azure's agent, DHCP, SAN policy and serial console", async () => {
    expect((await ntfsls(volume, '/WindowsAzure')).sort()).toEqual([
      'WindowsAzureGuestAgent.exe',
      'install.cmd',
    ]);
    const system = (key: string) => exportHive(volume, 'SYSTEM', `\\ControlSet001\\Services\\${key}`, dir);
    expect(await system('Dhcp')).toContain('"Start"=dword:00000002');
    expect(await system('Tcpip\\Parameters\\Interfaces\\{4d36e972-e325-11ce-bfc1-08002be10318}')).toContain(
      '"EnableDHCP"=dword:00000001',
    );
    expect(await system('partmgr\\Parameters')).toContain('"SanPolicy"=dword:00000001');
    expect(await system('sacsvr')).toContain('"Start"=dword:00000002');
    const step = report.steps.find((s) => s.step === 'AddTargetPlatformTools');
    expect(step?.changes).toEqual(
      expect.arrayContaining([
        'placed the Azure guest agent package under \\WindowsAzure',
        'set HKLM\\SYSTEM\\CurrentControlSet\\Services\\partmgr\\Parameters\\SanPolicy = 1 (OnlineAll: data disks come online)',
      ]),
    );
  });

  it('enables Remote Desktop', async () => {
    const ts = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Control\\Terminal Server', dir);
    expect(ts).toContain('"fDenyTSConnections"=dword:00000000');
    expect(ts).toContain('"PortNumber"=dword:00000d3d');
  });

  it('leaves the domain and carries the offline join blob in the answer file', async () => {
    const tcpip = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services\\Tcpip\\Parameters', dir);
    expect(tcpip).toContain('"Domain"=str(1):""');
    expect(tcpip).not.toContain('corp.example.com');
    expect(await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services\\Netlogon', dir)).toContain(
      '"Start"=dword:00000003',
    );
    const unattend = await ntfscat(volume, '/Windows/Panther/unattend.xml');
    expect(unattend).toContain('<settings pass="generalize">');
    expect(unattend).toContain(
      `<AccountData>${Buffer.from('lamina offline domain join provisioning data').toString('base64')}</AccountData>`,
    );
  });

  it('schedules chkdsk and defrag, and makes the VDA register anew', async () => {
    const sm = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Control\\Session Manager', dir);
    // REG_MULTI_SZ: hivexregedit shows it as hex(7), UTF-16LE strings each ending in NUL, then a NUL.
    const bootExecute = Buffer.from('autocheck autochk /p \\??\\C:\0autocheck autochk *\0\0', 'utf16le');
    expect(sm).toContain(
      `"BootExecute"=hex(7):${[...bootExecute].map((b) => b.toString(16).padStart(2, '0')).join(',')}`,
    );
    expect(await ntfscat(volume, '/Windows/Setup/Scripts/SetupComplete.cmd')).toContain(
      'defrag.exe %SystemDrive% /O',
    );
    const vda = await exportHive(volume, 'SOFTWARE', '\\Citrix', dir);
    expect(vda).not.toContain('VirtualDesktopAgent\\State');
  });

  it('records the provisioning mode', async () => {
    const lamina = await exportHive(volume, 'SOFTWARE', '\\Lamina\\ImagePortability', dir);
    expect(lamina).toContain('"ProvisioningType"=str(1):"MCS"');
    expect(lamina).toContain('"Platform"=str(1):"azure"');
    expect(report.steps.map((s) => s.step)).toEqual([
      'RemoveSourcePlatformTools',
      'AddTargetPlatformTools',
      'EnableRdp',
      'Domain',
      'FirstStart',
      'SysprepAnswerFile',
      'ProvisioningMode',
    ]);
  });

  it('leaves a volume ntfsfix finds clean', async () => {
    await run('ntfsfix', ['-n', volume]);
  });
});

describe('prepare refusals', () => {
  it('refuses a disk without Windows, writing nothing', async () => {
    const blank = path.join(dir, 'blank.vhdx');
    await run('qemu-img', ['create', '-f', 'vhdx', blank, '64M']);
    const out = path.join(dir, 'blank-prepared.vhdx');
    await expect(prepareImage(blank, out, { provisioningType: 'PVS', platform: 'local' })).rejects.toThrow(
      ComposeError,
    );
    await expect(prepareImage(blank, out, { provisioningType: 'PVS', platform: 'local' })).rejects.toThrow(
      'no MBR or GPT partition table',
    );
    expect(fs.readdirSync(dir).filter((f) => f.includes('blank-prepared'))).toEqual([]);
  });

  it('refuses InstallUpl without an installer and a blob that is not one, writing nothing', async () => {
    const out = path.join(dir, 'refused.vhdx');
    await expect(
      prepareImage(source, out, { provisioningType: 'MCS', platform: 'azure', InstallUpl: true }),
    ).rejects.toThrow(PrepareInputError);
    const notBlob = path.join(dir, 'not-a-blob.txt');
    fs.writeFileSync(notBlob, 'hello, this is not base64 !!!');
    await expect(
      prepareImage(source, out, { provisioningType: 'MCS', platform: 'azure', domainJoinBlob: notBlob }),
    ).rejects.toThrow('not-a-blob.txt is not an offline domain-join blob');
    expect(fs.readdirSync(dir).filter((f) => f.includes('refused'))).toEqual([]);
  });
});
