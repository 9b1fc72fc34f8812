#include <unistd.h>
#include "file-read.h"

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
