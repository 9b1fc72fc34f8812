#ifndef LAMINA_DEVICE_READS_H
#define LAMINA_DEVICE_READS_H

/*
 * `lamina_ntfs read DEVICE`: answers read requests for any device a volume name selects (device.h),
 * the served protocol turned around. The core first writes the device's size (u64, little-endian);
 * then the caller writes {u64 offset, u64 length} (little-endian) on
 * stdin, the core answers exactly `length` bytes on stdout; one request at a time, until stdin ends.
 * TypeScript reads what is not an NTFS volume through it: the partition table of an iSCSI LUN.
 * Returns the exit code.
 */
int answer_device_reads(const char *name);

#endif
