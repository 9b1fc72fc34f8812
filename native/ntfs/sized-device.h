#ifndef LAMINA_SIZED_DEVICE_H
#define LAMINA_SIZED_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

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
