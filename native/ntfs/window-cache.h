#ifndef LAMINA_WINDOW_CACHE_H
#define LAMINA_WINDOW_CACHE_H
#include "ntfs.h"

/*
 * Small reads of a read-only device whose every read is a round trip (a parent process serving a
 * volume, an iSCSI target), served from a few aligned windows each fetched with one request:
 * libntfs-3g reads metadata (MFT records, index blocks) a few KiB at a time. The device never
 * changes under it, so a window never goes stale.
 */
#define WINDOW_CACHE_WINDOW (256 * 1024)

/* Reads `count` bytes at `offset` from the device; 0, or -1 with errno set. */
typedef int (*window_fetch)(void *source, void *buffer, s64 count, s64 offset);

struct window_cache;

/*
 * A cache over a device of `size` bytes read by `fetch(source, …)`; NULL when out of memory. A miss
 * on the window right after the last one missed (the reader goes forward: a file's data) fetches
 * `read_ahead` windows in one `fetch`, for a device that serves a longer read faster than as many
 * short ones (iSCSI keeps several commands in flight); 1 fetches the window alone.
 */
struct window_cache *window_cache_new(s64 size, window_fetch fetch, void *source, int read_ahead);
/*
 * Reads `count` bytes at `offset` (clipped to the device): reads of a window or more go straight to
 * `fetch`, smaller ones through the windows. The bytes read, or -1 with errno set.
 */
s64 window_cache_read(struct window_cache *c, void *buffer, s64 count, s64 offset);
void window_cache_free(struct window_cache *c);

#endif
