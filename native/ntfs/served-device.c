#include <fcntl.h>
#include <unistd.h>
#include "served-device.h"
#include "sized-device.h"
#include "window-cache.h"

struct served {
	struct sized_device base; /* first: sized-device.c's operations read it */
	int fd;
	/* Every request is a round trip through the parent: small reads come from its windows. */
	struct window_cache *cache;
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

/* One round trip: `count` bytes at `offset`, both within the volume (a window_fetch). */
static int request_bytes(void *source, void *buffer, s64 count, s64 offset)
{
	struct served *served = source;
	u8 request[16];
	for (int i = 0; i < 8; i++) {
		request[i] = (u8)((u64)offset >> (8 * i));
		request[8 + i] = (u8)((u64)count >> (8 * i));
	}
	return exchange(served->fd, request, sizeof(request), 1) ||
	       exchange(served->fd, buffer, (size_t)count, 0);
}

static s64 served_pread(struct ntfs_device *dev, void *buffer, s64 count, s64 offset)
{
	return window_cache_read(served_of(dev)->cache, buffer, count, offset);
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

static struct ntfs_device_operations served_operations = {
	.open = served_open,
	.close = served_close,
	.seek = sized_seek,
	.read = sized_read,
	.write = sized_write,
	.pread = served_pread,
	.pwrite = served_pwrite,
	.sync = served_sync,
	.stat = sized_stat,
	.ioctl = sized_ioctl,
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
	if (!served) {
		errno = ENOMEM;
		return NULL;
	}
	served->fd = fd;
	served->base.size = size;
	served->cache = window_cache_new(size, request_bytes, served, 1);
	struct ntfs_device *dev = served->cache ? ntfs_device_alloc(spec, 0, &served_operations, served) : NULL;
	if (!dev) {
		window_cache_free(served->cache);
		free(served);
	}
	return dev;
}
