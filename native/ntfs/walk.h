#ifndef LAMINA_WALK_H
#define LAMINA_WALK_H
#include "ntfs.h"

/* The layer's own metadata folder: never content, never copied into an image. */
#define LAMINA_METADATA_DIR ".lamina"

enum walk_step { WALK_ENTER, WALK_LEAVE };

/*
 * Called for every file and directory under the folder `top` ("/": the root; not `top` itself,
 * not NTFS metafiles, not \.lamina): WALK_ENTER for all, WALK_LEAVE for directories after their
 * children. Returning non-zero stops the walk with that value.
 */
typedef int (*walk_visitor)(void *context, const char *path, ntfs_inode *ni, enum walk_step step);

int walk_tree(ntfs_volume *vol, const char *top, walk_visitor visit, void *context);

#endif
