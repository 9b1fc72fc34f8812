#include <fcntl.h>
#include <unistd.h>
#include "backing.h"

#define MAGIC "LMNTBAK1"

struct backing {
	u64 cluster_size;
	u8 *bitmap;
	u64 clusters;
	char *volume;
	device_opener open_device;
	struct ntfs_device *dev; /* NULL until opened */
	s64 size;                /* bytes of the backing volume */
};

/* The next line of `f` without its newline; NULL at the end or when it does not fit. */
static char *read_line(FILE *f, char *line, size_t room)
{
	if (!fgets(line, (int)room, f))
		return NULL;
	size_t length = strlen(line);
	if (!length || line[length - 1] != '\n')
		return NULL;
	line[length - 1] = '\0';
	return line;
}

static u8 *read_bitmap(const char *file, u64 *bytes)
{
	int fd = open(file, O_RDONLY);
	if (fd < 0)
		return NULL;
	off_t size = lseek(fd, 0, SEEK_END);
	u8 *bitmap = size > 0 ? malloc((size_t)size) : NULL;
	if (bitmap && pread(fd, bitmap, (size_t)size, 0) != size) {
		free(bitmap);
		bitmap = NULL;
	}
	close(fd);
	*bytes = bitmap ? (u64)size : 0;
	return bitmap;
}

int backing_load(const char *map_file, device_opener open_device, struct backing **out)
{
	*out = NULL;
	size_t name_length = strlen(map_file) + sizeof(".backing");
	char *name = malloc(name_length);
	snprintf(name, name_length, "%s.backing", map_file);
	FILE *f = fopen(name, "r");
	free(name);
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char magic[16], cluster_size[32], bitmap_file[4096], volume[4096];
	int ok = read_line(f, magic, sizeof(magic)) && !strcmp(magic, MAGIC) &&
		 read_line(f, cluster_size, sizeof(cluster_size)) &&
		 read_line(f, bitmap_file, sizeof(bitmap_file)) && read_line(f, volume, sizeof(volume));
	fclose(f);
	struct backing *b = ok ? calloc(1, sizeof(*b)) : NULL;
	if (b) {
		b->cluster_size = strtoull(cluster_size, NULL, 10);
		u64 bytes = 0;
		b->bitmap = read_bitmap(bitmap_file, &bytes);
		b->clusters = bytes * 8;
		b->volume = strdup(volume);
		b->open_device = open_device;
		ok = b->bitmap && b->cluster_size >= 512 && (b->cluster_size & (b->cluster_size - 1)) == 0;
	}
	if (!ok) {
		backing_free(b);
		errno = EINVAL;
		return -1;
	}
	*out = b;
	return 0;
}

int backing_open(struct backing *b)
{
	struct stat st;
	b->dev = b->open_device(b->volume, 1);
	if (!b->dev)
		return -1;
	if (b->dev->d_ops->open(b->dev, O_RDONLY) || b->dev->d_ops->stat(b->dev, &st)) {
		int error = errno;
		ntfs_device_free(b->dev);
		b->dev = NULL;
		errno = error;
		return -1;
	}
	b->size = st.st_size;
	/* Clusters past the end of the volume are not in use, whatever the bitmap's padding says. */
	if (b->clusters > (u64)b->size / b->cluster_size)
		b->clusters = (u64)b->size / b->cluster_size;
	return 0;
}

void backing_free(struct backing *b)
{
	if (!b)
		return;
	if (b->dev) {
		b->dev->d_ops->close(b->dev);
		ntfs_device_free(b->dev);
	}
	free(b->bitmap);
	free(b->volume);
	free(b);
}

static int in_use(struct backing *b, u64 cluster)
{
	return cluster < b->clusters && (b->bitmap[cluster >> 3] >> (cluster & 7)) & 1;
}

int backing_has_data(struct backing *b, s64 offset, s64 length)
{
	u64 first = (u64)offset / b->cluster_size;
	u64 end = ((u64)(offset + length) + b->cluster_size - 1) / b->cluster_size;
	for (u64 c = first; c < end && c < b->clusters; c++)
		if (in_use(b, c))
			return 1;
	return 0;
}

int backing_read(struct backing *b, u8 *target, s64 length, s64 offset)
{
	memset(target, 0, (size_t)length);
	u64 end = (u64)(offset + length);
	for (u64 c = (u64)offset / b->cluster_size; c < b->clusters && c * b->cluster_size < end;) {
		if (!in_use(b, c)) {
			c++;
			continue;
		}
		u64 run = c;
		while (run < b->clusters && run * b->cluster_size < end && in_use(b, run))
			run++;
		/* The run's part inside the read. */
		u64 from = c * b->cluster_size > (u64)offset ? c * b->cluster_size : (u64)offset;
		u64 to = run * b->cluster_size < end ? run * b->cluster_size : end;
		s64 got = ntfs_pread(b->dev, (s64)from, (s64)(to - from), target + (from - (u64)offset));
		if (got != (s64)(to - from)) {
			if (got >= 0)
				errno = EIO;
			return -1;
		}
		c = run;
	}
	return 0;
}
