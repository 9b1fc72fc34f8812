#include <fcntl.h>
#include <unistd.h>
#include "ntfs.h"
#include "device.h"
#include "device-reads.h"
#include "fail.h"

/* Larger requests than this are a protocol error, not an allocation to make. */
#define MAX_REQUEST (64 * 1024 * 1024)

static int read_exactly(int fd, void *buffer, size_t length)
{
	for (size_t done = 0; done < length;) {
		ssize_t n = read(fd, (char *)buffer + done, length - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return done == 0 && n == 0 ? 1 : -1; /* 1: the input ended between requests */
		done += (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buffer, size_t length)
{
	for (size_t done = 0; done < length;) {
		ssize_t n = write(fd, (const char *)buffer + done, length - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

int answer_device_reads(const char *name)
{
	struct ntfs_device *dev = device_for(name, 1);
	if (!dev || dev->d_ops->open(dev, O_RDONLY)) {
		fail("%s: cannot open the device (%s)", name, strerror(errno));
		if (dev)
			ntfs_device_free(dev);
		return 1;
	}
	struct stat st;
	u8 request[16];
	if (dev->d_ops->stat(dev, &st)) {
		fail("%s: cannot tell its size (%s)", name, strerror(errno));
		dev->d_ops->close(dev);
		ntfs_device_free(dev);
		return 1;
	}
	for (int i = 0; i < 8; i++)
		request[i] = (u8)((u64)st.st_size >> (8 * i));
	u8 *data = NULL;
	int rc = 0, ended = write_all(STDOUT_FILENO, request, 8) ? -1 : 0;
	while (!ended && !(ended = read_exactly(STDIN_FILENO, request, sizeof(request)))) {
		u64 offset = 0, length = 0;
		for (int i = 0; i < 8; i++) {
			offset |= (u64)request[i] << (8 * i);
			length |= (u64)request[8 + i] << (8 * i);
		}
		if (length > MAX_REQUEST) {
			fail("%s: a read of %llu bytes is more than one request may ask", name,
			     (unsigned long long)length);
			rc = 1;
			break;
		}
		u8 *grown = realloc(data, length ? length : 1);
		if (!grown) {
			fail("%s: out of memory", name);
			rc = 1;
			break;
		}
		data = grown;
		if (dev->d_ops->pread(dev, data, (s64)length, (s64)offset) != (s64)length) {
			fail("%s: read of %llu bytes at %llu failed (%s)", name, (unsigned long long)length,
			     (unsigned long long)offset, strerror(errno));
			rc = 1;
			break;
		}
		if (write_all(STDOUT_FILENO, data, length)) {
			rc = 1;
			break;
		}
	}
	if (ended < 0)
		rc = 1;
	free(data);
	dev->d_ops->close(dev);
	ntfs_device_free(dev);
	return rc;
}
