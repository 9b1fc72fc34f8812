#ifndef LAMINA_OVERLAY_H
#define LAMINA_OVERLAY_H
#include "ntfs.h"
#include "entry.h"
/* Writes every file of `layer` over `image`: files replace, directories merge. */
int overlay_volume(ntfs_volume *layer, ntfs_volume *image);
/* Copies every $DATA stream of `from` (the unnamed one too) onto `to`, as a file of a layer replaces one below. */
int overlay_copy_streams(ntfs_inode *from, ntfs_inode *to);
/* Sets only the times of `meta` on `path`: directories get theirs after their children. */
int overlay_set_times(ntfs_volume *vol, const char *path, const struct entry_meta *meta);
#endif
