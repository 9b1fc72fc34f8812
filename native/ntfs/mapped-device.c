#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include "backing.h"
#include "file-read.h"
#include "mapped-device.h"
#include "read-cache.h"
#include "sized-device.h"

#define MAGIC "LMNTMAP1"
#define HEADER_FIELDS 8
/* Direct I/O needs memory, offset and length aligned; a page satisfies every device. */
#define DIRECT_ALIGNMENT 4096
/*
 * Direct writes are synchronous: worth it for bulk copies (no page-cache copy, no writeback
 * later), a loss for the many small writes of files and metadata, which the page cache batches.
 */
#define DIRECT_MINIMUM (1024 * 1024)
/*
 * Reads of a layer this large are files' data: from the read cache. The file system's own
 * structures (MFT records, index blocks) are smaller and scattered: a chunk read for each would
 * move half a megabyte for a kilobyte, so they keep the page cache.
 */
#define CACHED_MINIMUM (16 * 1024)
/*
 * Runs of combined file writes. 8 MiB measured best: over six alternating compose runs the
 * overlays took 3.9 s on average, against 4.5 s with 4 MiB runs and 4.6 s with 16 MiB.
 */
#define STAGE_SIZE (8 * 1024 * 1024)
/* Smaller writes are the file system's own structures, scattered: they never start a run. */
#define STAGE_START_MINIMUM (16 * 1024)

struct mapped {
	struct sized_device base; /* first: sized-device.c's operations read it; its size is the volume's */
	char *map_file;
	char *disk_file;
	int fd;        /* buffered */
	int direct_fd; /* O_DIRECT (for writing; read-only devices read with it), or -1 where refused */
	int read_only;
	struct read_cache *cache; /* a read-only device's smaller reads (read-cache.h), or NULL */
	struct backing *backing; /* what never-written blocks show (backing.h), or NULL: zeros */
	u8 *fill;                /* one block, aligned: a block being filled from the backing */
	u64 block_size;
	u64 prefix;
	u64 next_free;
	s64 volume_offset;

	u64 block_count;
	u64 *blocks;
	int dirty;
	/* Write combining (see write_at): `stage_len` bytes due at file offset `stage_at`. */
	u8 *stage;
	u64 stage_at;
	s64 stage_len;
	/* The previous run, being written by the flusher thread (flushing_len 0: none); under `lock`. */
	u8 *flushing;
	u64 flushing_at;
	s64 flushing_len;
	int flush_failed, flush_error, stopping;
	int direct_refused; /* the file system took O_DIRECT at open, not for writes */
	pthread_t flusher;
	pthread_mutex_t lock;
	pthread_cond_t changed;
};

static struct mapped *mapped_of(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int read_exact(int fd, void *buffer, size_t length)
{
	return read(fd, buffer, length) == (ssize_t)length ? 0 : -1;
}

static u64 padded(u64 n)
{
	return (n + 7) & ~(u64)7;
}

static void mapped_free(struct mapped *m)
{
	backing_free(m->backing);
	free(m->fill);
	free(m->map_file);
	free(m->disk_file);
	free(m->blocks);
	free(m->stage);
	free(m->flushing);
	free(m);
}

/* Reads MAPFILE; NULL with errno set when it is missing or not a map. */
static struct mapped *load_map(const char *map_file, device_opener open_backing)
{
	int fd = open(map_file, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct mapped *m = calloc(1, sizeof(*m));
	u64 header[HEADER_FIELDS];
	int ok = read_exact(fd, header, sizeof(header)) == 0 && !memcmp(header, MAGIC, 8);
	if (ok) {
		m->block_size = le64_to_cpu(header[1]);
		m->prefix = le64_to_cpu(header[2]);
		m->next_free = le64_to_cpu(header[3]);
		m->volume_offset = (s64)le64_to_cpu(header[4]);
		m->base.size = (s64)le64_to_cpu(header[5]);
		m->block_count = le64_to_cpu(header[6]);
		u64 path_length = le64_to_cpu(header[7]);
		ok = m->block_size > 0 && m->block_count > 0 && m->block_count < (1ull << 32) &&
		     path_length > 0 && path_length < 4096 && m->volume_offset >= 0 && m->base.size > 0 &&
		     (u64)(m->volume_offset + m->base.size) <= m->block_count * m->block_size;
		if (ok) {
			m->disk_file = calloc(1, padded(path_length) + 1);
			m->blocks = malloc(m->block_count * sizeof(u64));
			ok = read_exact(fd, m->disk_file, padded(path_length)) == 0 &&
			     read_exact(fd, m->blocks, m->block_count * sizeof(u64)) == 0;
			m->disk_file[path_length] = 0;
		}
	}
	close(fd);
	if (!ok) {
		mapped_free(m);
		errno = EINVAL;
		return NULL;
	}
	for (u64 b = 0; b < m->block_count; b++)
		m->blocks[b] = le64_to_cpu(m->blocks[b]);
	m->map_file = strdup(map_file);
	if (backing_load(map_file, open_backing, &m->backing)) {
		mapped_free(m);
		return NULL;
	}
	return m;
}

/* Writes the map under a temporary name and renames it, so a crash leaves the old map whole. */
static int save_map(struct mapped *m)
{
	size_t path_length = strlen(m->disk_file);
	u64 header[HEADER_FIELDS];
	memcpy(header, MAGIC, 8);
	header[1] = cpu_to_le64(m->block_size);
	header[2] = cpu_to_le64(m->prefix);
	header[3] = cpu_to_le64(m->next_free);
	header[4] = cpu_to_le64((u64)m->volume_offset);
	header[5] = cpu_to_le64((u64)m->base.size);
	header[6] = cpu_to_le64(m->block_count);
	header[7] = cpu_to_le64(path_length);
	size_t path_bytes = padded(path_length);
	size_t total = sizeof(header) + path_bytes + m->block_count * sizeof(u64);
	u8 *data = calloc(1, total);
	memcpy(data, header, sizeof(header));
	memcpy(data + sizeof(header), m->disk_file, path_length);
	u64 *blocks = (u64 *)(data + sizeof(header) + path_bytes);
	for (u64 b = 0; b < m->block_count; b++)
		blocks[b] = cpu_to_le64(m->blocks[b]);
	size_t name_length = strlen(m->map_file) + 5;
	char *temporary = malloc(name_length);
	snprintf(temporary, name_length, "%s.tmp", m->map_file);
	int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && write(fd, data, total) == (ssize_t)total;
	if (fd >= 0 && close(fd))
		ok = 0;
	ok = ok && rename(temporary, m->map_file) == 0;
	free(temporary);
	free(data);
	return ok ? 0 : -1;
}

static int flush_stage(struct mapped *m);
static int wait_flushed(struct mapped *m);
static void *flush_runs(void *argument);

/* Write combining needs two aligned buffers and the flusher thread; without them, none. */
static void start_combining(struct mapped *m)
{
	if (posix_memalign((void **)&m->stage, DIRECT_ALIGNMENT, STAGE_SIZE) ||
	    posix_memalign((void **)&m->flushing, DIRECT_ALIGNMENT, STAGE_SIZE))
		goto none;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->changed, NULL);
	if (!pthread_create(&m->flusher, NULL, flush_runs, m))
		return;
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->changed);
none:
	free(m->stage);
	free(m->flushing);
	m->stage = m->flushing = NULL;
}

/* Writes out what is staged and stops the flusher; -1 if any run failed. */
static int stop_combining(struct mapped *m)
{
	if (!m->stage)
		return 0;
	int rc = flush_stage(m) || wait_flushed(m) ? -1 : 0;
	pthread_mutex_lock(&m->lock);
	m->stopping = 1;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->flusher, NULL);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->changed);
	return rc;
}

static int mapped_open(struct ntfs_device *dev, int flags)
{
	struct mapped *m = mapped_of(dev);
	int writable = (flags & O_ACCMODE) != O_RDONLY;
	m->fd = open(m->disk_file, writable ? O_RDWR : O_RDONLY);
	if (m->fd < 0)
		return -1;
	if (m->backing && backing_open(m->backing)) {
		int error = errno;
		close(m->fd);
		errno = error;
		return -1;
	}
	m->read_only = !writable;
	m->direct_fd = open(m->disk_file, (writable ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (m->direct_fd >= 0 && writable)
		start_combining(m);
	if (m->direct_fd >= 0 && !writable)
		m->cache = read_cache_new(m->direct_fd); /* without one, the page cache */
	NDevSetOpen(dev);
	if (!writable)
		NDevSetReadOnly(dev);
	return 0;
}

static int mapped_close(struct ntfs_device *dev)
{
	struct mapped *m = mapped_of(dev);
	int rc = stop_combining(m);
	if (m->dirty && save_map(m))
		rc = -1;
	read_cache_free(m->cache);
	if (m->direct_fd >= 0)
		close(m->direct_fd);
	if (close(m->fd))
		rc = -1;
	NDevClearOpen(dev);
	mapped_free(m);
	dev->d_private = NULL;
	return rc;
}

/* One block's part of a read or write: `length` bytes at `in_block` of disk block `block`. */
typedef int (*piece_fn)(struct mapped *m, u8 *data, u64 block, u64 in_block, s64 length);

/* Cuts `count` bytes at volume `offset` at block boundaries; stops at the first failing piece. */
static int for_each_piece(struct mapped *m, u8 *data, s64 count, s64 offset, piece_fn piece)
{
	for (s64 done = 0; done < count;) {
		u64 disk_at = (u64)(m->volume_offset + offset + done);
		u64 block = disk_at / m->block_size;
		u64 in_block = disk_at % m->block_size;
		s64 length = (s64)(m->block_size - in_block);
		if (length > count - done)
			length = count - done;
		if (piece(m, data + done, block, in_block, length))
			return -1;
		done += length;
	}
	return 0;
}

static s64 clip(struct mapped *m, s64 count, s64 offset)
{
	if (offset < 0 || count < 0) {
		errno = EINVAL;
		return -1;
	}
	if (offset >= m->base.size)
		return 0;
	return count < m->base.size - offset ? count : m->base.size - offset;
}

/* Copies into `target` (`length` bytes at file offset `from`) what `run` holds of that range. */
static void overlay_run(u8 *target, u64 from, s64 length, const u8 *run, u64 run_at, s64 run_length)
{
	u64 to = from + (u64)length, run_end = run_at + (u64)run_length;
	u64 lo = from > run_at ? from : run_at, hi = to < run_end ? to : run_end;
	if (lo < hi)
		memcpy(target + (lo - from), run + (lo - run_at), (size_t)(hi - lo));
}

/* Reads file bytes as they stand, through the page cache. */
static int read_file(struct mapped *m, u8 *target, s64 length, u64 at)
{
	return read_file_at(m->fd, target, length, at);
}

static int is_aligned(const u8 *data, s64 length, u64 at)
{
	return (uintptr_t)data % DIRECT_ALIGNMENT == 0 && length % DIRECT_ALIGNMENT == 0 &&
	       at % DIRECT_ALIGNMENT == 0;
}

/*
 * A read-only device (a layer) reads past the page cache: filling fresh cache pages and copying
 * out of them took more CPU than the disk took to deliver them (on a VM whose host reclaims idle
 * guest memory, the benchmark's OS clone spent 2.5 s of kernel time per GiB and took twice as long
 * as with direct reads, and the overlays of the later app layers ran at a third of the disk's
 * speed). Bulk data (a clone's chunks) goes straight into the caller's buffer; files' data comes
 * from a cache of direct-read chunks that reads ahead (read-cache.h).
 */
static int read_stored(struct mapped *m, u8 *target, s64 length, u64 at)
{
	int rc = 1; /* 1: not read past the page cache */
	if (m->read_only && m->direct_fd >= 0 && length >= DIRECT_MINIMUM && is_aligned(target, length, at))
		rc = read_file_at(m->direct_fd, target, length, at);
	else if (m->cache && length >= CACHED_MINIMUM)
		rc = read_cache_read(m->cache, target, length, at);
	if (rc == 0)
		return 0;
	if (rc < 0 && errno != EINVAL)
		return -1;
	if (rc < 0) { /* direct I/O refused: read through the page cache from now on */
		read_cache_free(m->cache);
		m->cache = NULL;
		close(m->direct_fd);
		m->direct_fd = -1;
	}
	return read_file(m, target, length, at);
}

/* Volume offset of byte `in_block` of disk block `block`. */
static s64 volume_offset_of(struct mapped *m, u64 block, u64 in_block)
{
	return (s64)(block * m->block_size + in_block) - m->volume_offset;
}

static int read_piece(struct mapped *m, u8 *target, u64 block, u64 in_block, s64 length)
{
	u64 at = m->blocks[block];
	/* Never written: the backing's bytes, or zeros (so is an allocated block past the file's end). */
	if (!at && m->backing)
		return backing_read(m->backing, target, length, volume_offset_of(m, block, in_block));
	if (!at)
		memset(target, 0, (size_t)length);
	else if (read_stored(m, target, length, at + in_block))
		return -1;
	/* Runs not yet (or not surely) in the file are newer than its bytes; the staged one newest. */
	if (at && m->stage) {
		pthread_mutex_lock(&m->lock);
		overlay_run(target, at + in_block, length, m->flushing, m->flushing_at, m->flushing_len);
		pthread_mutex_unlock(&m->lock);
		overlay_run(target, at + in_block, length, m->stage, m->stage_at, m->stage_len);
	}
	return 0;
}

static s64 mapped_pread(struct ntfs_device *dev, void *buffer, s64 count, s64 offset)
{
	struct mapped *m = mapped_of(dev);
	count = clip(m, count, offset);
	if (count <= 0)
		return count;
	return for_each_piece(m, buffer, count, offset, read_piece) ? -1 : count;
}

static int is_zero(const u8 *data, s64 length)
{
	for (s64 i = 0; i < length; i++)
		if (data[i])
			return 0;
	return 1;
}

/* Writes bytes at a file offset, past the page cache when `direct` and the file system lets us. */
static int write_out(struct mapped *m, const u8 *data, s64 length, u64 at, int direct)
{
	for (s64 done = 0; done < length;) {
		int use_direct = direct && m->direct_fd >= 0 && !__atomic_load_n(&m->direct_refused, __ATOMIC_RELAXED);
		ssize_t n = pwrite(use_direct ? m->direct_fd : m->fd, data + done, (size_t)(length - done),
				   (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && use_direct && errno == EINVAL) {
			__atomic_store_n(&m->direct_refused, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* The flusher thread: writes each handed-off run, whole pages direct, a partial last page cached. */
static void *flush_runs(void *argument)
{
	struct mapped *m = argument;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		while (!m->flushing_len && !m->stopping)
			pthread_cond_wait(&m->changed, &m->lock);
		if (!m->flushing_len)
			break;
		const u8 *data = m->flushing;
		u64 at = m->flushing_at;
		s64 length = m->flushing_len;
		pthread_mutex_unlock(&m->lock);
		s64 whole = length & ~(s64)(DIRECT_ALIGNMENT - 1);
		int rc = write_out(m, data, whole, at, 1) || write_out(m, data + whole, length - whole, at + whole, 0);
		int error = errno;
		pthread_mutex_lock(&m->lock);
		if (rc && !m->flush_failed) {
			m->flush_failed = 1;
			m->flush_error = error;
		}
		m->flushing_len = 0;
		pthread_cond_broadcast(&m->changed);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/* Waits until no run is being written; -1 with errno set if one failed. */
static int wait_flushed(struct mapped *m)
{
	if (!m->stage)
		return 0;
	pthread_mutex_lock(&m->lock);
	while (m->flushing_len)
		pthread_cond_wait(&m->changed, &m->lock);
	int failed = m->flush_failed, error = m->flush_error;
	pthread_mutex_unlock(&m->lock);
	if (failed)
		errno = error;
	return failed ? -1 : 0;
}

/* Hands the staged run to the flusher thread, which writes it while this one goes on. */
static int flush_stage(struct mapped *m)
{
	if (!m->stage_len)
		return 0;
	if (wait_flushed(m))
		return -1;
	pthread_mutex_lock(&m->lock);
	u8 *spare = m->flushing;
	m->flushing = m->stage;
	m->flushing_at = m->stage_at;
	m->flushing_len = m->stage_len;
	m->stage = spare;
	m->stage_len = 0;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Whether a write of `length` bytes at `at` touches a page of the run being flushed. */
static int touches_flushing(struct mapped *m, u64 at, s64 length)
{
	pthread_mutex_lock(&m->lock);
	u64 first = m->flushing_at & ~(u64)(DIRECT_ALIGNMENT - 1);
	u64 end = (m->flushing_at + (u64)m->flushing_len + DIRECT_ALIGNMENT - 1) & ~(u64)(DIRECT_ALIGNMENT - 1);
	int touches = m->flushing_len && at < end && at + (u64)length > first;
	pthread_mutex_unlock(&m->lock);
	return touches;
}


/*
 * Bulk data in aligned memory goes past the page cache. Smaller writes are combined: libntfs-3g
 * writes packed files one after another, each a few clusters, and a write that continues the
 * staged run (after at most the rest of a page, filled from the file) joins it in an aligned
 * buffer that goes out direct once full or when another file's data starts a new run elsewhere.
 * Reads see the staged bytes (read_piece); writes over them update the buffer; other writes go
 * through the page cache, which cannot conflict: a page the run will write direct is wholly in
 * the run, so any write to it lands in the buffer. Without direct I/O nothing is staged.
 */
static int write_at(struct mapped *m, const u8 *data, s64 length, u64 at)
{
	if (m->direct_fd < 0 || !m->stage)
		return write_out(m, data, length, at, 0);
	if (touches_flushing(m, at, length) && wait_flushed(m))
		return -1;
	u64 stage_end = m->stage_at + (u64)m->stage_len;
	if (m->stage_len && at < stage_end && at + (u64)length > m->stage_at) {
		if (at >= m->stage_at && at + (u64)length <= stage_end) {
			memcpy(m->stage + (at - m->stage_at), data, (size_t)length);
			return 0;
		}
		if (flush_stage(m))
			return -1;
	} else if (m->stage_len && at >= stage_end && at - stage_end < DIRECT_ALIGNMENT &&
		   at + (u64)length - m->stage_at <= STAGE_SIZE) {
		if (read_file(m, m->stage + m->stage_len, (s64)(at - stage_end), stage_end))
			return -1;
		memcpy(m->stage + (at - m->stage_at), data, (size_t)length);
		m->stage_len = (s64)(at + (u64)length - m->stage_at);
		return m->stage_len == STAGE_SIZE ? flush_stage(m) : 0;
	}
	if (length >= DIRECT_MINIMUM && is_aligned(data, length, at))
		return write_out(m, data, length, at, 1);
	/* File data starts a new run; metadata (MFT records, index blocks, bitmap) passes by it. */
	if (at % DIRECT_ALIGNMENT == 0 && length >= STAGE_START_MINIMUM && length < STAGE_SIZE) {
		if (flush_stage(m))
			return -1;
		memcpy(m->stage, data, (size_t)length);
		m->stage_at = at;
		m->stage_len = length;
		return 0;
	}
	return write_out(m, data, length, at, 0);
}

/* The part of disk block `block` inside the volume, as `*from` (bytes into the block) and a length. */
static s64 block_in_volume(struct mapped *m, u64 block, u64 *from)
{
	s64 start = (s64)(block * m->block_size), end = start + (s64)m->block_size;
	s64 lo = start > m->volume_offset ? start : m->volume_offset;
	s64 hi = end < m->volume_offset + m->base.size ? end : m->volume_offset + m->base.size;
	*from = (u64)(lo - start);
	return hi - lo;
}

/* Copies the backing's bytes into the newly allocated `block`, so a partial write completes it. */
static int fill_from_backing(struct mapped *m, u64 block)
{
	if (!m->fill && posix_memalign((void **)&m->fill, DIRECT_ALIGNMENT, m->block_size))
		return -1;
	u64 from;
	s64 length = block_in_volume(m, block, &from);
	return backing_read(m->backing, m->fill, length, volume_offset_of(m, block, from)) ||
			       write_at(m, m->fill, length, m->blocks[block] + from)
		       ? -1
		       : 0;
}

static int write_piece(struct mapped *m, u8 *data, u64 block, u64 in_block, s64 length)
{
	if (!m->blocks[block]) {
		u64 from;
		s64 in_volume = block_in_volume(m, block, &from);
		int backed = m->backing && backing_has_data(m->backing, volume_offset_of(m, block, from), in_volume);
		if (!backed && is_zero(data, length))
			return 0; /* reads as zeros already; the block stays unallocated */
		/* The same rule as disk/allocating-writer.ts: data page-aligned, after the prefix. */
		m->blocks[block] = (m->next_free + m->prefix + DIRECT_ALIGNMENT - 1) & ~(u64)(DIRECT_ALIGNMENT - 1);
		m->next_free = m->blocks[block] + m->block_size;
		m->dirty = 1;
		if (backed && fill_from_backing(m, block))
			return -1;
	}
	return write_at(m, data, length, m->blocks[block] + in_block);
}

static s64 mapped_pwrite(struct ntfs_device *dev, const void *buffer, s64 count, s64 offset)
{
	struct mapped *m = mapped_of(dev);
	if (NDevReadOnly(dev)) {
		errno = EROFS;
		return -1;
	}
	count = clip(m, count, offset);
	if (count <= 0)
		return count;
	/* Not written through: for_each_piece only passes it on. */
	return for_each_piece(m, (u8 *)buffer, count, offset, write_piece) ? -1 : count;
}

/*
 * Writes out staged bytes and saves the map, without fsync: the disk file is made durable once, when its writer finishes
 * it (disk/file-io.ts); flushing at every unmount would wait on the disk once per layer.
 */
static int mapped_sync(struct ntfs_device *dev)
{
	struct mapped *m = mapped_of(dev);
	if (NDevReadOnly(dev))
		return 0;
	if (flush_stage(m) || wait_flushed(m))
		return -1;
	if (!m->dirty)
		return 0;
	if (save_map(m))
		return -1;
	m->dirty = 0;
	return 0;
}

static struct ntfs_device_operations mapped_operations = {
	.open = mapped_open,
	.close = mapped_close,
	.seek = sized_seek,
	.read = sized_read,
	.write = sized_write,
	.pread = mapped_pread,
	.pwrite = mapped_pwrite,
	.sync = mapped_sync,
	.stat = sized_stat,
	.ioctl = sized_ioctl,
};

struct ntfs_device *mapped_device_open(const char *spec, device_opener open_backing)
{
	const char *map_file = spec + strlen(MAPPED_PREFIX);
	struct mapped *m = load_map(map_file, open_backing);
	if (!m)
		return NULL;
	m->fd = m->direct_fd = -1;
	struct ntfs_device *dev = ntfs_device_alloc(spec, 0, &mapped_operations, m);
	if (!dev)
		mapped_free(m);
	return dev;
}
