#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
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

static struct sized_device *sized_of(struct ntfs_device *dev)
{
	return dev->d_private;
}

s64 sized_seek(struct ntfs_device *dev, s64 offset, int whence)
{
	struct sized_device *d = sized_of(dev);
	s64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? d->position : d->size;
	if (base + offset < 0) {
		errno = EINVAL;
		return -1;
	}
	d->position = base + offset;
	return d->position;
}

s64 sized_read(struct ntfs_device *dev, void *buffer, s64 count)
{
	struct sized_device *d = sized_of(dev);
	s64 n = dev->d_ops->pread(dev, buffer, count, d->position);
	if (n > 0)
		d->position += n;
	return n;
}

s64 sized_write(struct ntfs_device *dev, const void *buffer, s64 count)
{
	struct sized_device *d = sized_of(dev);
	s64 n = dev->d_ops->pwrite(dev, buffer, count, d->position);
	if (n > 0)
		d->position += n;
	return n;
}

int sized_stat(struct ntfs_device *dev, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (NDevReadOnly(dev) ? 0444 : 0644);
	st->st_size = sized_of(dev)->size;
	return 0;
}

int sized_ioctl(struct ntfs_device *dev, unsigned long request, void *argp)
{
	if (request == BLKGETSIZE64) {
		*(u64 *)argp = (u64)sized_of(dev)->size;
		return 0;
	}
	if (request == BLKSSZGET) {
		*(int *)argp = 512;
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

int read_file_at(int fd, u8 *target, s64 length, u64 at)
{
	s64 done = 0;
	while (done < length) {
		ssize_t n = pread(fd, target + done, (size_t)(length - done), (off_t)(at + (u64)done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += n;
	}
	memset(target + done, 0, (size_t)(length - done));
	return 0;
}
