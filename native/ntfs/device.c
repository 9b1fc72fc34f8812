#include <fcntl.h>
#include <unistd.h>
#include <ntfs-3g/device_io.h>
#include "device.h"
#include "mapped-device.h"
#include "served-device.h"
#include "iscsi-device.h"

struct ntfs_device *device_for(const char *name, int read_only)
{
	if (!strncmp(name, SERVED_PREFIX, strlen(SERVED_PREFIX))) {
		if (!read_only) {
			errno = EROFS;
			return NULL;
		}
		return served_device_open(name);
	}
	if (!strncmp(name, ISCSI_PREFIX, strlen(ISCSI_PREFIX))) {
		if (!read_only) {
			errno = EROFS;
			return NULL;
		}
		return iscsi_device_open(name);
	}
	if (!strncmp(name, MAPPED_PREFIX, strlen(MAPPED_PREFIX)))
		return mapped_device_open(name, device_for);
	return ntfs_device_alloc(name, 0, &ntfs_device_default_io_ops, NULL);
}

struct ntfs_device *device_open_writable(const char *name)
{
	struct ntfs_device *dev = device_for(name, 0);
	if (dev && dev->d_ops->open(dev, O_RDWR)) {
		int error = errno;
		ntfs_device_free(dev);
		errno = error;
		return NULL;
	}
	return dev;
}

int device_close(struct ntfs_device *dev)
{
	int rc = dev->d_ops->close(dev);
	ntfs_device_free(dev);
	return rc;
}
