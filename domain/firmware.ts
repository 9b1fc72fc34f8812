/**
 * The firmware an image boots with, as templates, connector types and the API spell it:
 * BIOS = Generation 1 (MBR), UEFI = Generation 2 (GPT).
 */
export const FIRMWARES = ['BIOS', 'UEFI'] as const;
export type Firmware = (typeof FIRMWARES)[number];

/**
 * The same two, as the compositor lays a disk out for them, the CLI's `--firmware` takes them and a
 * VM spec asks a hypervisor for them. Both spellings stay: templates store the upper-case one, and
 * activity inputs already in Temporal histories carry the lower-case one.
 */
export const DISK_FIRMWARES = ['bios', 'uefi'] as const;
export type DiskFirmware = (typeof DISK_FIRMWARES)[number];

export const DISK_FIRMWARE: Readonly<Record<Firmware, DiskFirmware>> = { BIOS: 'bios', UEFI: 'uefi' };
