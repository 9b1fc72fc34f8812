import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { installIntoBootDisk } from '../../compositor/boot-disk-install';
import { makeGoldImage } from '../../compositor/gold-image';
import { run } from '../../lib/processes';

/** What a Windows VM on vSphere holds that prepare must remove: VMware Tools' services, drivers and files. */
export const VMWARE_TOOLS_REG = `Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\VMTools]
"Start"=dword:00000002
"ImagePath"="\\"C:\\\\Program Files\\\\VMware\\\\VMware Tools\\\\vmtoolsd.exe\\""

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\vmci]
"Start"=dword:00000000

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\vmxnet3ndis6]
"Start"=dword:00000003

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters]
"Domain"="corp.example.com"
"NV Domain"="corp.example.com"

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\\Interfaces\\{4d36e972-e325-11ce-bfc1-08002be10318}]
"EnableDHCP"=dword:00000000
"IPAddress"="10.1.2.3"

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Netlogon]
"Start"=dword:00000002

[HKEY_LOCAL_MACHINE\\SOFTWARE\\Citrix\\VirtualDesktopAgent\\State]
"Registered"="ddc01.corp.example.com"
`;

/**
 * A synthetic Windows gold disk (compositor/gold-image.ts) as a VM on vSphere has it: VMware Tools
 * installed (files, services, drivers), joined to a domain, a static address, a registered Citrix VDA.
 */
export async function makeVmwareWindowsDisk(dir: string, name = 'vmware-windows.vhdx'): Promise<string> {
  const disk = path.join(dir, name);
  await makeGoldImage({ out: disk, firmware: 'uefi', size: 2 ** 30, format: 'vhdx' });
  const tools = path.join(dir, 'vmware-tools');
  fs.mkdirSync(path.join(tools, 'Program Files', 'VMware', 'VMware Tools'), { recursive: true });
  fs.writeFileSync(path.join(tools, 'Program Files', 'VMware', 'VMware Tools', 'vmtoolsd.exe'), 'MZ tools');
  const reg = path.join(dir, 'vmware-tools.reg');
  fs.writeFileSync(reg, VMWARE_TOOLS_REG);
  await installIntoBootDisk(disk, { from: tools, reg });
  fs.rmSync(tools, { recursive: true });
  fs.rmSync(reg);
  return disk;
}

/** The Windows partition of a disk as a raw volume file (qemu-img, then sfdisk's table and dd). */
export async function windowsVolume(disk: string, dir: string): Promise<string> {
  const raw = path.join(dir, `${path.basename(disk)}.raw`);
  await run('qemu-img', ['convert', '-O', 'raw', disk, raw]);
  const table = JSON.parse(await run('sfdisk', ['--json', raw])) as {
    partitiontable: { partitions: { start: number; size: number }[] };
  };
  const windows = table.partitiontable.partitions.sort((a, b) => b.size - a.size)[0];
  const volume = path.join(dir, `${path.basename(disk)}.ntfs`);
  await run('dd', [
    `if=${raw}`,
    `of=${volume}`,
    'bs=512',
    `skip=${windows.start}`,
    `count=${windows.size}`,
    'conv=sparse',
    'status=none',
  ]);
  fs.rmSync(raw);
  return volume;
}

/** A hive of the volume exported by hivexregedit (printable strings), keys below `key`. */
export async function exportHive(volume: string, hive: string, key: string, dir: string): Promise<string> {
  const file = path.join(dir, `${hive}.hive`);
  fs.writeFileSync(file, await ntfscatBytes(volume, `/Windows/System32/config/${hive}`));
  try {
    return await run('hivexregedit', ['--export', '--unsafe-printable-strings', file, key]);
  } finally {
    fs.rmSync(file);
  }
}

export function ntfscat(volume: string, file: string): Promise<string> {
  return run('ntfscat', [volume, file]);
}

export async function ntfsls(volume: string, dir: string): Promise<string[]> {
  return (await run('ntfsls', ['-p', dir, volume])).split('\n').filter((n) => n && n !== '.' && n !== '..');
}

function ntfscatBytes(volume: string, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    execFile('ntfscat', [volume, file], { encoding: 'buffer', maxBuffer: 256 * 2 ** 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
}

/** Every path on the volume, as `ntfsls -R` lists it. */
export async function allFiles(volume: string): Promise<string[]> {
  return (await run('ntfsls', ['-R', '-p', '/', volume])).split('\n').filter(Boolean);
}

/**
 * A disk an engine prepared against the same prepare on the appliance (`reference`). Prepare stamps
 * what it writes with the time it runs, so the two differ in timestamps only: they are compared by
 * what a guest sees (every file's path, both machine hives, the answer file), and the prepared volume
 * passes `ntfsfix -n`. Then the effects every target shares: the domain left (Netlogon on demand), and
 * VMware Tools kept (the image stays on vSphere) or removed. Returns the prepared volume.
 */
export async function expectPreparedLikeAppliance(
  prepared: string,
  reference: string,
  dir: string,
  vmwareTools: 'kept' | 'removed',
): Promise<string> {
  const volume = await windowsVolume(prepared, dir);
  const expected = await windowsVolume(reference, dir);
  expect(await allFiles(volume)).toEqual(await allFiles(expected));
  for (const hive of ['SYSTEM', 'SOFTWARE'])
    expect(await exportHive(volume, hive, '\\', dir)).toEqual(await exportHive(expected, hive, '\\', dir));
  await run('ntfsfix', ['-n', volume]);
  const answerFile = '/Windows/Panther/unattend.xml';
  expect(await ntfscat(volume, answerFile)).toBe(await ntfscat(expected, answerFile));
  expect(await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services\\Netlogon', dir)).toContain(
    '"Start"=dword:00000003',
  );
  const services = await exportHive(volume, 'SYSTEM', '\\ControlSet001\\Services', dir);
  const programs = await ntfsls(volume, '/Program Files');
  if (vmwareTools === 'kept') {
    expect(services).toMatch(/\\Services\\VMTools\]/);
    expect(programs).toContain('VMware');
  } else {
    expect(services).not.toMatch(/\\Services\\VMTools\]/);
    expect(programs).not.toContain('VMware');
  }
  return volume;
}
