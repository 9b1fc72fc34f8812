#ifndef LAMINA_ISCSI_PREFETCH_H
#define LAMINA_ISCSI_PREFETCH_H
#include "ntfs.h"
#include <iscsi/iscsi.h>

/*
 * Reads ahead of a forward reader of an iSCSI LUN, on an iSCSI session and a thread of its own, so
 * the target sends the next megabytes while the core writes the last ones (an overlay reads a
 * layer's files mostly in the order they lie on it, and writes each before it reads the next). The
 * local compose's read cache (read-cache.h) overlaps the same way; without this an offloaded overlay
 * waited for every read in turn.
 *
 * The bytes are held in aligned chunks, each one READ(16), several in flight. A chunk that failed is
 * simply not held: the reader reads it itself, and reports the error if there is one.
 */
struct iscsi_prefetch;

/*
 * A read-ahead for LUN `lun` (`lun_size` bytes of `block_size`) on `session`, a logged-in context
 * the read-ahead's thread owns from now on (logged out and destroyed by iscsi_prefetch_free); NULL
 * with errno set, the session left to the caller, when memory or the thread cannot be had.
 */
struct iscsi_prefetch *iscsi_prefetch_new(struct iscsi_context *session, int lun, int block_size, s64 lun_size);

/* Starts reading the chunks from LUN offset `offset` on that are not held or on their way yet. */
void iscsi_prefetch_ahead(struct iscsi_prefetch *p, s64 offset);

/*
 * Copies bytes from `offset` on (up to `count`, within one chunk) out of a chunk read ahead, waiting
 * for it if it is on its way; answers how many, 0 when the chunk is not held.
 */
s64 iscsi_prefetch_take(struct iscsi_prefetch *p, void *buffer, s64 count, s64 offset);

/* How many of the `count` bytes from `offset` on come before the next chunk held or on its way. */
s64 iscsi_prefetch_missing(struct iscsi_prefetch *p, s64 count, s64 offset);

void iscsi_prefetch_free(struct iscsi_prefetch *p);

#endif
