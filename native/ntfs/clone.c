#include <fcntl.h>
#include <unistd.h>
#include "clone.h"
#include "ntfs.h"
#include "progress.h"
#include "volume.h"

#define COPY_CHUNK (4u * 1024 * 1024)

static int is_zero(const char *buffer, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (buffer[i])
			return 0;
	return 1;
}

/* Reads the whole cluster bitmap: one bit per cluster, 8 MiB for a 256 GiB volume at 4 KiB. */
static u8 *read_bitmap(ntfs_volume *vol, s64 *bytes)
{
	*bytes = (vol->nr_clusters + 7) / 8;
	u8 *bitmap = malloc((size_t)*bytes);
	if (bitmap && ntfs_attr_pread(vol->lcnbmp_na, 0, *bytes, bitmap) != *bytes) {
		free(bitmap);
		return NULL;
	}
	return bitmap;
}

/* Reads through the volume's own device, so a served volume (read in place) clones too. */
static int copy_range(ntfs_volume *from, int to, char *buffer, off_t offset, u64 length)
{
	while (length) {
		size_t want = length < COPY_CHUNK ? (size_t)length : COPY_CHUNK;
		s64 got = ntfs_pread(from->dev, offset, (s64)want, buffer);
		if (got <= 0)
			return -1;
		if (!is_zero(buffer, (size_t)got) && pwrite(to, buffer, (size_t)got, offset) != got)
			return -1;
		offset += got;
		length -= (u64)got;
		progress_add((u64)got);
	}
	return 0;
}

int clone_volume(const char *source, const char *target)
{
	ntfs_volume *vol = volume_open(source, 1);
	if (!vol)
		return -1;
	s64 bitmap_bytes;
	u8 *bitmap = read_bitmap(vol, &bitmap_bytes);
	s64 clusters = vol->nr_clusters;
	u32 cluster_size = vol->cluster_size;
	if (!bitmap) {
		fail("%s: cannot read the cluster bitmap", source);
		ntfs_umount(vol, FALSE);
		return -1;
	}

	u64 used = 0;
	for (s64 c = 0; c < clusters; c++)
		used += (bitmap[c >> 3] >> (c & 7)) & 1;
	progress_start("clone", used * cluster_size);

	int to = open(target, O_WRONLY);
	char *buffer = malloc(COPY_CHUNK);
	int rc = to < 0 ? -1 : 0;
	for (s64 c = 0; rc == 0 && c < clusters;) {
		if (!((bitmap[c >> 3] >> (c & 7)) & 1)) {
			c++;
			continue;
		}
		s64 run = c;
		while (run < clusters && ((bitmap[run >> 3] >> (run & 7)) & 1))
			run++;
		rc = copy_range(vol, to, buffer, (off_t)c * cluster_size, (u64)(run - c) * cluster_size);
		c = run;
	}
	if (rc == 0 && fsync(to))
		rc = -1;
	if (rc)
		fail("cloning %s into %s: %s", source, target, strerror(errno));
	progress_finish();
	free(buffer);
	free(bitmap);
	ntfs_umount(vol, FALSE);
	if (to >= 0)
		close(to);
	return rc;
}
