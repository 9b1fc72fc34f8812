#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include "clone.h"
#include "device.h"
#include "fail.h"
#include "ntfs.h"
#include "progress.h"
#include "volume.h"

#define COPY_CHUNK (4u * 1024 * 1024)
/* Direct I/O (the mapped device uses it for aligned writes) needs page-aligned memory. */
#define BUFFER_ALIGNMENT 4096

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

static void clear_run(u8 *bitmap, s64 clusters, LCN lcn, s64 length)
{
	for (s64 c = lcn; c < lcn + length && c < clusters; c++)
		bitmap[c >> 3] &= (u8)~(1u << (c & 7));
}

/*
 * Leaves in `bitmap` only the clusters of the file system's own structures: clears those of
 * every data stream of ordinary files (MFT records from 16 on). What remains (the MFT, the
 * system files, directory indexes) is what ntfsresize reads and rewrites.
 */
static int drop_file_data(ntfs_volume *vol, u8 *bitmap)
{
	s64 records = vol->mft_na->initialized_size >> vol->mft_record_size_bits;
	for (s64 mref = FILE_first_user; mref < records; mref++) {
		ntfs_inode *ni = ntfs_inode_open(vol, (MFT_REF)mref);
		if (!ni)
			continue; /* a free record */
		ntfs_attr_search_ctx *ctx = ntfs_attr_get_search_ctx(ni, NULL);
		if (!ctx) {
			ntfs_inode_close(ni);
			return -1;
		}
		while (!ntfs_attr_lookup(AT_DATA, NULL, 0, CASE_SENSITIVE, 0, NULL, 0, ctx)) {
			if (!ctx->attr->non_resident)
				continue;
			runlist_element *rl = ntfs_mapping_pairs_decompress(vol, ctx->attr, NULL);
			for (runlist_element *r = rl; r && r->length; r++)
				if (r->lcn >= 0)
					clear_run(bitmap, vol->nr_clusters, r->lcn, r->length);
			free(rl);
		}
		ntfs_attr_put_search_ctx(ctx);
		ntfs_inode_close(ni);
	}
	return 0;
}

/*
 * Reading and writing overlap: a writer thread empties one buffer while the next is read, so a
 * clone from one disk to another (or to the same one, with direct writes that wait for the device)
 * runs at the pace of the slower side, not of both added up.
 */
struct pipe_slot {
	char *data;
	s64 offset;
	s64 length; /* 0: empty */
};

struct copy_pipe {
	struct ntfs_device *to;
	struct pipe_slot slots[2];
	int next_read, next_write, done, failed, error;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pthread_t writer;
};

static void *write_slots(void *argument)
{
	struct copy_pipe *p = argument;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct pipe_slot *slot = &p->slots[p->next_write];
		while (!slot->length && !p->done)
			pthread_cond_wait(&p->changed, &p->lock);
		if (!slot->length)
			break;
		pthread_mutex_unlock(&p->lock);
		int ok = p->to->d_ops->pwrite(p->to, slot->data, slot->length, slot->offset) == slot->length;
		int error = errno;
		pthread_mutex_lock(&p->lock);
		if (!ok && !p->failed) {
			p->failed = 1;
			p->error = error;
		}
		slot->length = 0;
		p->next_write ^= 1;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int pipe_start(struct copy_pipe *p, struct ntfs_device *to)
{
	memset(p, 0, sizeof(*p));
	p->to = to;
	for (int i = 0; i < 2; i++)
		if (posix_memalign((void **)&p->slots[i].data, BUFFER_ALIGNMENT, COPY_CHUNK))
			return -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	return pthread_create(&p->writer, NULL, write_slots, p) ? -1 : 0;
}

/* The next free buffer, waiting for the writer if both are full; NULL once a write failed. */
static struct pipe_slot *pipe_take(struct copy_pipe *p)
{
	pthread_mutex_lock(&p->lock);
	struct pipe_slot *slot = &p->slots[p->next_read];
	while (slot->length && !p->failed)
		pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	return p->failed ? NULL : slot;
}

static void pipe_put(struct copy_pipe *p, struct pipe_slot *slot, s64 offset, s64 length)
{
	pthread_mutex_lock(&p->lock);
	slot->offset = offset;
	slot->length = length;
	p->next_read ^= 1;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

/* Waits for the last writes; 0 when every write succeeded. */
static int pipe_finish(struct copy_pipe *p)
{
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->writer, NULL);
	for (int i = 0; i < 2; i++)
		free(p->slots[i].data);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	if (p->failed)
		errno = p->error;
	return p->failed ? -1 : 0;
}

/* Reads through the volume's own device, so a served volume (read in place) clones too. */
static int copy_range(ntfs_volume *from, struct copy_pipe *pipe, s64 offset, u64 length)
{
	while (length) {
		size_t want = length < COPY_CHUNK ? (size_t)length : COPY_CHUNK;
		struct pipe_slot *slot = pipe_take(pipe);
		if (!slot)
			return -1;
		s64 got = ntfs_pread(from->dev, offset, (s64)want, slot->data);
		if (got <= 0)
			return -1;
		if (!is_zero(slot->data, (size_t)got))
			pipe_put(pipe, slot, offset, got);
		offset += got;
		length -= (u64)got;
		progress_add((u64)got);
	}
	return 0;
}

/* The target device, opened for writing; NULL (reported) when it cannot be. */
static struct ntfs_device *open_target(const char *target)
{
	struct ntfs_device *to = device_open_writable(target);
	if (!to)
		fail("%s: cannot open for writing (%s)", target, strerror(errno));
	return to;
}

int clone_volume(const char *source, const char *target, int metadata_only)
{
	ntfs_volume *vol = volume_open(source, 1);
	if (!vol)
		return -1;
	s64 bitmap_bytes;
	u8 *bitmap = read_bitmap(vol, &bitmap_bytes);
	s64 clusters = vol->nr_clusters;
	u32 cluster_size = vol->cluster_size;
	if (!bitmap || (metadata_only && drop_file_data(vol, bitmap))) {
		fail("%s: cannot read the cluster bitmap", source);
		free(bitmap);
		ntfs_umount(vol, FALSE);
		return -1;
	}

	u64 used = 0;
	for (s64 c = 0; c < clusters; c++)
		used += (bitmap[c >> 3] >> (c & 7)) & 1;
	progress_start("clone", used * cluster_size);

	struct ntfs_device *to = open_target(target);
	struct copy_pipe pipe;
	int piped = to && pipe_start(&pipe, to) == 0;
	int rc = piped ? 0 : -1;
	for (s64 c = 0; rc == 0 && c < clusters;) {
		if (!((bitmap[c >> 3] >> (c & 7)) & 1)) {
			c++;
			continue;
		}
		s64 run = c;
		while (run < clusters && ((bitmap[run >> 3] >> (run & 7)) & 1))
			run++;
		rc = copy_range(vol, &pipe, c * cluster_size, (u64)(run - c) * cluster_size);
		c = run;
	}
	if (piped && pipe_finish(&pipe))
		rc = -1;
	if (to && device_close(to))
		rc = -1;
	if (rc)
		fail("cloning %s into %s: %s", source, target, strerror(errno));
	progress_finish();
	free(bitmap);
	ntfs_umount(vol, FALSE);
	return rc;
}

#define PAGE 4096

/* Writes the pages of `data` (`length` bytes at `at`) that differ from `current`, in runs. */
static int write_changed(struct ntfs_device *to, const char *data, const char *current, s64 length, s64 at)
{
	for (s64 page = 0; page < length;) {
		s64 size = length - page < PAGE ? length - page : PAGE;
		if (!memcmp(data + page, current + page, (size_t)size)) {
			page += size;
			continue;
		}
		s64 run = page;
		while (run < length) {
			s64 n = length - run < PAGE ? length - run : PAGE;
			if (!memcmp(data + run, current + run, (size_t)n))
				break;
			run += n;
		}
		if (to->d_ops->pwrite(to, data + page, run - page, at + page) != run - page)
			return -1;
		page = run;
	}
	return 0;
}

int copy_file_data(const char *file, const char *target)
{
	int from = open(file, O_RDONLY);
	if (from < 0) {
		fail("%s: %s", file, strerror(errno));
		return -1;
	}
	struct ntfs_device *to = open_target(target);
	char *buffer = NULL, *current = NULL;
	int rc = to && !posix_memalign((void **)&buffer, BUFFER_ALIGNMENT, COPY_CHUNK) &&
			 !posix_memalign((void **)&current, BUFFER_ALIGNMENT, COPY_CHUNK)
		     ? 0
		     : -1;
	off_t end = lseek(from, 0, SEEK_END);
	/* Every data range, zeros included: they may replace something the target holds. */
	for (off_t at = rc ? end : lseek(from, 0, SEEK_DATA); rc == 0 && at >= 0 && at < end;) {
		off_t hole = lseek(from, at, SEEK_HOLE);
		while (rc == 0 && at < hole) {
			size_t want = hole - at < COPY_CHUNK ? (size_t)(hole - at) : COPY_CHUNK;
			ssize_t got = pread(from, buffer, want, at);
			rc = got > 0 && to->d_ops->pread(to, current, got, at) == got &&
					     write_changed(to, buffer, current, got, at) == 0
				     ? 0
				     : -1;
			at += got > 0 ? got : 0;
		}
		at = lseek(from, hole, SEEK_DATA);
	}
	if (to && device_close(to))
		rc = -1;
	if (rc)
		fail("copying %s into %s: %s", file, target, strerror(errno));
	free(buffer);
	free(current);
	close(from);
	return rc;
}

int write_cluster_bitmap(const char *source, const char *file)
{
	ntfs_volume *vol = volume_open(source, 1);
	if (!vol)
		return -1;
	s64 bytes;
	u8 *bitmap = read_bitmap(vol, &bytes);
	/* $Bitmap marks the bits past the last cluster in use; they are no clusters. */
	if (bitmap && vol->nr_clusters & 7)
		bitmap[bytes - 1] &= (u8)((1u << (vol->nr_clusters & 7)) - 1);
	int fd = bitmap ? open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
	int rc = fd >= 0 && write(fd, bitmap, (size_t)bytes) == bytes ? 0 : -1;
	if (fd >= 0 && close(fd))
		rc = -1;
	if (rc)
		fail("%s: cannot write the cluster bitmap to %s (%s)", source, file, strerror(errno));
	else
		printf("{\"clusterSize\":%u,\"clusters\":%lld}\n", vol->cluster_size, (long long)vol->nr_clusters);
	fflush(stdout);
	free(bitmap);
	ntfs_umount(vol, FALSE);
	return rc;
}
