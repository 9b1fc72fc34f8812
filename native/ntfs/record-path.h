#ifndef LAMINA_RECORD_PATH_H
#define LAMINA_RECORD_PATH_H
#include "ntfs.h"

/*
 * Paths of MFT records, read from their $FILE_NAME attributes (parent reference + name) and
 * their parents' up to the root: how a capture names the records it found changed without
 * walking the tree. Directory paths are cached. A record reachable only through an NTFS
 * metafile (\$Extend\...) has no path: it is the file system's, never content.
 */
struct record_paths;

struct record_paths *record_paths_new(ntfs_volume *vol);
void record_paths_free(struct record_paths *paths);

/* The full paths of an inode, one per hard link (Win32/POSIX names; 8.3 aliases skipped). */
struct path_list {
	char **paths;
	size_t count;
};
int record_paths_of(struct record_paths *paths, ntfs_inode *ni, struct path_list *out);
void path_list_free(struct path_list *list);

/* Whether `list` holds `path`, compared as Windows does (case-insensitively). */
int path_list_contains(ntfs_volume *vol, const struct path_list *list, const char *path);

#endif
