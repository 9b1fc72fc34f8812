#include <ntfs-3g/device_io.h>
#include "device.h"
#include "mapped-device.h"
#include "served-device.h"

struct ntfs_device *device_for(const char *name, int read_only)
{
	if (!strncmp(name, SERVED_PREFIX, strlen(SERVED_PREFIX))) {
		if (!read_only) {
			errno = EROFS;
			return NULL;
		}
		return served_device_open(name);
	}
	if (!strncmp(name, MAPPED_PREFIX, strlen(MAPPED_PREFIX)))
		return mapped_device_open(name);
	return ntfs_device_alloc(name, 0, &ntfs_device_default_io_ops, NULL);
}
