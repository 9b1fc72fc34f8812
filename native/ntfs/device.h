#ifndef LAMINA_DEVICE_H
#define LAMINA_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

/*
 * The device behind a volume name, not yet opened: "served:FD:SIZE" (read-only, see
 * served-device.h), "mapped:MAPFILE" (a window of a disk file being written, see
 * mapped-device.h), or else a partition image file. NULL with errno set when it cannot be had.
 */
struct ntfs_device *device_for(const char *name, int read_only);

/* The device behind a volume name, opened for reading and writing; NULL with errno set. */
struct ntfs_device *device_open_writable(const char *name);
/* Closes and frees a device from device_open_writable; the close's result. */
int device_close(struct ntfs_device *dev);

/* Reads `length` bytes at `at` from `fd` (zeros past the end of the file); -1 with errno set. */
int read_file_at(int fd, u8 *target, s64 length, u64 at);

/*
 * What the served and mapped devices share: their d_private starts with this, and the operations
 * libntfs-3g expects of every device that follow from a size and pread/pwrite come from here.
 */
struct sized_device {
	s64 size;
	s64 position;
};

s64 sized_seek(struct ntfs_device *dev, s64 offset, int whence);
s64 sized_read(struct ntfs_device *dev, void *buffer, s64 count);
s64 sized_write(struct ntfs_device *dev, const void *buffer, s64 count);
int sized_stat(struct ntfs_device *dev, struct stat *st);
int sized_ioctl(struct ntfs_device *dev, unsigned long request, void *argp);

#endif
