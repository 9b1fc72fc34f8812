/*
 * `lamina_ntfs overlay LAYER IMAGE`: one step of compositing. Every file of the layer volume
 * replaces the image's file at the same path, with all its streams, security descriptor,
 * attributes, times and reparse point. Directories merge: one the image already has keeps its
 * own metadata (an app layer must not re-permission \Windows); a new one takes the layer's.
 */
#include "overlay.h"
#include "entry.h"
#include "fail.h"
#include "path.h"
#include "progress.h"
#include "walk.h"

/* Windows paths are at most 32767 characters, so fewer than 16384 levels. */
#define MAX_DEPTH 16384

struct overlay {
	ntfs_volume *image;
	u64 total_bytes;
	/* For each directory being walked: did this overlay create it in the image? */
	unsigned char created_dirs[MAX_DEPTH];
	size_t depth;
};

static int count_bytes(void *context, const char *path, ntfs_inode *ni, enum walk_step step)
{
	struct overlay *overlay = context;
	struct stream_list streams;
	(void)path;
	if (step != WALK_ENTER || inode_is_dir(ni))
		return 0;
	if (entry_list_streams(ni, &streams))
		return -1;
	for (size_t i = 0; i < streams.count; i++)
		overlay->total_bytes += streams.sizes[i];
	stream_list_free(&streams);
	return 0;
}

struct attr_source {
	ntfs_attr *na;
	s64 offset;
};

static ssize_t read_attr(void *context, void *buffer, size_t length)
{
	struct attr_source *source = context;
	s64 got = ntfs_attr_pread(source->na, source->offset, (s64)length, buffer);
	if (got > 0)
		source->offset += got;
	return (ssize_t)got;
}

int overlay_copy_streams(ntfs_inode *from, ntfs_inode *to)
{
	struct stream_list streams;
	int rc = entry_list_streams(from, &streams);
	for (size_t i = 0; rc == 0 && i < streams.count; i++) {
		ntfschar *name = streams.lengths[i] ? streams.names[i] : AT_UNNAMED;
		struct attr_source source = {ntfs_attr_open(from, AT_DATA, name, (u32)streams.lengths[i]), 0};
		if (!source.na) {
			rc = -1;
			break;
		}
		rc = entry_write_stream(to, streams.names[i], streams.lengths[i], streams.sizes[i],
					read_attr, &source);
		ntfs_attr_close(source.na);
	}
	stream_list_free(&streams);
	return rc;
}

/* Sets only the times of `meta` on `path`: directories get theirs after their children. */
int overlay_set_times(ntfs_volume *vol, const char *path, const struct entry_meta *meta)
{
	struct entry_meta times_only;
	memset(&times_only, 0, sizeof(times_only));
	times_only.has_times = meta->has_times;
	memcpy(times_only.times, meta->times, sizeof(meta->times));
	ntfs_inode *ni = path_open(vol, path);
	int rc = ni ? entry_write_meta(ni, &times_only) : -1;
	return ni ? ntfs_inode_close(ni) || rc : rc;
}

static int copy_entry(void *context, const char *path, ntfs_inode *from, enum walk_step step)
{
	struct overlay *overlay = context;
	int is_dir = inode_is_dir(from), created = 0, rc = 0;
	struct entry_meta meta;

	if (entry_read_meta(from, &meta))
		return -1;
	if (step == WALK_LEAVE) {
		created = overlay->created_dirs[--overlay->depth];
		rc = created ? overlay_set_times(overlay->image, path, &meta) : 0;
	} else {
		ntfs_inode *to = entry_create(overlay->image, path, is_dir, &created);
		if (!to) {
			rc = -1;
		} else if (!is_dir) {
			rc = overlay_copy_streams(from, to) || entry_write_meta(to, &meta);
		} else {
			if (overlay->depth == MAX_DEPTH) {
				errno = ENAMETOOLONG;
				rc = -1;
			} else {
				overlay->created_dirs[overlay->depth++] = created;
				meta.has_times = 0;
				rc = created ? entry_write_meta(to, &meta) : 0;
			}
		}
		int error = errno;
		if (to && ntfs_inode_close(to) && !rc) {
			rc = -1;
			error = errno;
		}
		errno = error;
	}
	if (rc)
		fail("%s: %s", path, strerror(errno));
	entry_meta_free(&meta);
	return rc;
}

int overlay_volume(ntfs_volume *layer, ntfs_volume *image)
{
	struct overlay *overlay = calloc(1, sizeof(*overlay));
	overlay->image = image;
	int rc = walk_tree(layer, "/", count_bytes, overlay);
	if (rc == 0) {
		progress_start("overlay", overlay->total_bytes);
		rc = walk_tree(layer, "/", copy_entry, overlay);
		progress_finish();
	}
	free(overlay);
	return rc;
}
