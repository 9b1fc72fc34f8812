import { fileNameStem } from '../domain/file-names';

/**
 * Published image names: the template name followed by a date and time stamp, as App Layering names
 * PVS disks and MCS master images (`<template>_<yyyy-MM-dd_HH-mm-ss>`), in UTC. They become file
 * names on shares and datastores, so the template name goes through fileNameStem: a name stored
 * before the API checked names still gives a safe file name.
 */
export function imageName(template: string, at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp =
    `${at.getUTCFullYear()}-${two(at.getUTCMonth() + 1)}-${two(at.getUTCDate())}_` +
    `${two(at.getUTCHours())}-${two(at.getUTCMinutes())}-${two(at.getUTCSeconds())}`;
  return `${fileNameStem(template)}_${stamp}`;
}

export function imageFileName(name: string, format: string): string {
  return `${name}.${format}`;
}
