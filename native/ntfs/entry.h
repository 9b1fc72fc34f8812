#ifndef LAMINA_ENTRY_H
#define LAMINA_ENTRY_H
#include <sys/types.h>
#include "ntfs.h"

/*
 * What a file or directory carries besides its data: the Windows metadata Lamina preserves from
 * layer to image. Times are NTFS ticks (100 ns since 1601): creation, last write, last access.
 */
struct entry_meta {
	int has_attributes;
	u32 attributes;
	int has_times;
	u64 times[3];
	char *security; /* self-relative security descriptor */
	size_t security_len;
	char *reparse; /* reparse point buffer (junctions, symlinks, ...) */
	size_t reparse_len;
};

int entry_read_meta(ntfs_inode *ni, struct entry_meta *meta);
void entry_meta_free(struct entry_meta *meta);

/* Applies reparse data, security descriptor, attributes and times, in that order: each step
 * would otherwise change what the previous one set (writes touch the times last). */
int entry_write_meta(ntfs_inode *ni, const struct entry_meta *meta);

/*
 * Creates `path`. A file replaces whatever was there (its streams and metadata go with it); a
 * directory is merged into an existing directory, and *created tells which happened.
 */
ntfs_inode *entry_create(ntfs_volume *vol, const char *path, int is_dir, int *created);

/* Supplies a stream's bytes; returns how many were read, 0 at the end, -1 on error. */
typedef ssize_t (*stream_reader)(void *context, void *buffer, size_t length);

/* Writes one $DATA stream (name_len 0 = the unnamed, main stream) from a reader. */
int entry_write_stream(ntfs_inode *ni, const ntfschar *name, int name_len, u64 size,
		       stream_reader read, void *context);

/* The names of an inode's $DATA streams, the unnamed one included (length 0). */
struct stream_list {
	ntfschar **names;
	int *lengths;
	u64 *sizes;
	size_t count;
};
int entry_list_streams(ntfs_inode *ni, struct stream_list *out);
void stream_list_free(struct stream_list *list);

#endif
