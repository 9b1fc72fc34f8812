#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include "served-device.h"

struct served {
	int fd;
	s64 size;
	s64 position;
};

static struct served *served_of(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int served_open(struct ntfs_device *dev, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int served_close(struct ntfs_device *dev)
{
	NDevClearOpen(dev);
	return 0;
}

static s64 served_seek(struct ntfs_device *dev, s64 offset, int whence)
{
	struct served *served = served_of(dev);
	s64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? served->position : served->size;
	if (base + offset < 0) {
		errno = EINVAL;
		return -1;
	}
	served->position = base + offset;
	return served->position;
}

static int exchange(int fd, void *buffer, size_t length, int sending)
{
	for (size_t done = 0; done < length;) {
		ssize_t n = sending ? write(fd, (char *)buffer + done, length - done)
				    : read(fd, (char *)buffer + done, length - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? EIO : errno;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static s64 served_pread(struct ntfs_device *dev, void *buffer, s64 count, s64 offset)
{
	struct served *served = served_of(dev);
	if (offset >= served->size || count <= 0)
		return 0;
	if (count > served->size - offset)
		count = served->size - offset;
	u8 request[16];
	for (int i = 0; i < 8; i++) {
		request[i] = (u8)((u64)offset >> (8 * i));
		request[8 + i] = (u8)((u64)count >> (8 * i));
	}
	if (exchange(served->fd, request, sizeof(request), 1) ||
	    exchange(served->fd, buffer, (size_t)count, 0))
		return -1;
	return count;
}

static s64 served_read(struct ntfs_device *dev, void *buffer, s64 count)
{
	struct served *served = served_of(dev);
	s64 n = served_pread(dev, buffer, count, served->position);
	if (n > 0)
		served->position += n;
	return n;
}

static s64 served_write(struct ntfs_device *dev, const void *buffer, s64 count)
{
	errno = EROFS;
	return -1;
}

static s64 served_pwrite(struct ntfs_device *dev, const void *buffer, s64 count, s64 offset)
{
	errno = EROFS;
	return -1;
}

static int served_sync(struct ntfs_device *dev)
{
	return 0;
}

static int served_stat(struct ntfs_device *dev, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_size = served_of(dev)->size;
	return 0;
}

static int served_ioctl(struct ntfs_device *dev, unsigned long request, void *argp)
{
	if (request == BLKGETSIZE64) {
		*(u64 *)argp = (u64)served_of(dev)->size;
		return 0;
	}
	if (request == BLKSSZGET) {
		*(int *)argp = 512;
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static struct ntfs_device_operations served_operations = {
	.open = served_open,
	.close = served_close,
	.seek = served_seek,
	.read = served_read,
	.write = served_write,
	.pread = served_pread,
	.pwrite = served_pwrite,
	.sync = served_sync,
	.stat = served_stat,
	.ioctl = served_ioctl,
};

struct ntfs_device *served_device_open(const char *spec)
{
	int fd;
	long long size;
	if (sscanf(spec, SERVED_PREFIX "%d:%lld", &fd, &size) != 2 || fd < 0 || size <= 0) {
		errno = EINVAL;
		return NULL;
	}
	struct served *served = calloc(1, sizeof(*served));
	served->fd = fd;
	served->size = size;
	struct ntfs_device *dev = ntfs_device_alloc(spec, 0, &served_operations, served);
	if (!dev)
		free(served);
	return dev;
}
