#include <sys/ioctl.h>
#include <linux/fs.h>
#include "sized-device.h"

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
