#ifndef LAMINA_READ_CACHE_H
#define LAMINA_READ_CACHE_H
#include "ntfs.h"

/*
 * A small cache of a read-only file's bytes, read in aligned chunks with direct I/O into buffers
 * it reuses, with a thread that reads the chunks after each read ahead of the reader: for files'
 * data, which an overlay reads mostly in the order it lies on the disk.
 *
 * It stands in for the page cache when an overlay reads a layer's files. On a VM whose host takes
 * back idle guest memory, every fresh page-cache page costs a fault on the host: the benchmark's
 * overlays spent 2.7 s of kernel time per GiB read (copying out of fresh pages, zeroing the holes
 * of a sparse layer file) and ran at a third of the disk's speed. Here the same few megabytes are
 * filled by the disk again and again.
 */
struct read_cache;

/*
 * A cache reading `fd`, which must be open with O_DIRECT; NULL (errno set) when memory or the
 * read-ahead thread cannot be had.
 */
struct read_cache *read_cache_new(int fd);

/*
 * Reads `length` bytes at file offset `at` (zeros past the end of the file); -1 with errno set.
 * EINVAL means the file system refused direct I/O: read the file another way.
 */
int read_cache_read(struct read_cache *c, u8 *target, s64 length, u64 at);

/* Stops the read-ahead thread and frees the buffers (not the file descriptor). */
void read_cache_free(struct read_cache *c);

#endif
