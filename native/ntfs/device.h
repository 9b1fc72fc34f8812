#ifndef LAMINA_DEVICE_H
#define LAMINA_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

/*
 * The device behind a volume name, not yet opened: "served:FD:SIZE" (read-only, see
 * served-device.h), "iscsi:OFFSET:SIZE:URL" (read-only, a window of an iSCSI LUN, see
 * iscsi-device.h), "mapped:MAPFILE" (a window of a disk file being written, see
 * mapped-device.h), or else a partition image file. NULL with errno set when it cannot be had.
 */
struct ntfs_device *device_for(const char *name, int read_only);

/* The device behind a volume name, opened for reading and writing; NULL with errno set. */
struct ntfs_device *device_open_writable(const char *name);
/* Closes and frees a device from device_open_writable; the close's result. */
int device_close(struct ntfs_device *dev);

#endif
