#include <fcntl.h>
#include <unistd.h>
#include "served-device.h"
#include "sized-device.h"

/*
 * Every request is a round trip through the parent, and libntfs-3g reads metadata (MFT records,
 * index blocks) a few KiB at a time: small reads are served from a cache of aligned windows,
 * each fetched with one request. The device is read-only, so the cache never goes stale.
 */
#define WINDOW_SIZE (256 * 1024)
#define WINDOWS 16

struct window {
	s64 start; /* -1: empty */
	s64 length;
	u64 last_used;
	u8 *data;
};

struct served {
	struct sized_device base; /* first: sized-device.c's operations read it */
	int fd;
	struct window windows[WINDOWS];
	u64 clock;
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

/* One round trip: `count` bytes at `offset`, both within the volume. */
static int request_bytes(struct served *served, void *buffer, s64 count, s64 offset)
{
	u8 request[16];
	for (int i = 0; i < 8; i++) {
		request[i] = (u8)((u64)offset >> (8 * i));
		request[8 + i] = (u8)((u64)count >> (8 * i));
	}
	return exchange(served->fd, request, sizeof(request), 1) ||
	       exchange(served->fd, buffer, (size_t)count, 0);
}

/* The cached window holding `offset`, fetched if needed (least recently used one replaced). */
static struct window *window_for(struct served *served, s64 offset)
{
	s64 start = offset - offset % WINDOW_SIZE;
	struct window *victim = &served->windows[0];
	for (int i = 0; i < WINDOWS; i++) {
		struct window *w = &served->windows[i];
		if (w->data && w->start == start) {
			w->last_used = ++served->clock;
			return w;
		}
		if (!w->data || w->last_used < victim->last_used)
			victim = w;
	}
	if (!victim->data)
		victim->data = malloc(WINDOW_SIZE);
	victim->start = start;
	victim->length = served->base.size - start < WINDOW_SIZE ? served->base.size - start : WINDOW_SIZE;
	victim->last_used = ++served->clock;
	if (request_bytes(served, victim->data, victim->length, start)) {
		victim->start = -1;
		return NULL;
	}
	return victim;
}

static s64 served_pread(struct ntfs_device *dev, void *buffer, s64 count, s64 offset)
{
	struct served *served = served_of(dev);
	if (offset >= served->base.size || count <= 0)
		return 0;
	if (count > served->base.size - offset)
		count = served->base.size - offset;
	if (count >= WINDOW_SIZE)
		return request_bytes(served, buffer, count, offset) ? -1 : count;
	for (s64 done = 0; done < count;) {
		struct window *w = window_for(served, offset + done);
		if (!w)
			return -1;
		s64 from = offset + done - w->start;
		s64 n = w->length - from < count - done ? w->length - from : count - done;
		memcpy((u8 *)buffer + done, w->data + from, (size_t)n);
		done += n;
	}
	return count;
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
	served->fd = fd;
	served->base.size = size;
	struct ntfs_device *dev = ntfs_device_alloc(spec, 0, &served_operations, served);
	if (!dev)
		free(served);
	return dev;
}
