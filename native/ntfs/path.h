#ifndef LAMINA_PATH_H
#define LAMINA_PATH_H
#include "ntfs.h"

/*
 * Paths inside a volume are UTF-8, '/'-separated, absolute ("/Windows/System32"). Lookups are
 * case-insensitive, as on Windows.
 */

/* The children of a directory, read before anything else touches the directory. */
struct dir_listing {
	char **names;
	int *is_dir;
	MFT_REF *mrefs;
	size_t count, capacity;
};

int dir_list(ntfs_inode *dir, struct dir_listing *out);
void dir_listing_free(struct dir_listing *listing);

/* Opens an inode; NULL with errno ENOENT when the path does not exist. */
ntfs_inode *path_open(ntfs_volume *vol, const char *path);

int inode_is_dir(ntfs_inode *ni);

/*
 * Opens the parent directory of `path`, creating missing directories (with the default security
 * descriptor) on the way. *leaf points into `path` at the last component.
 */
ntfs_inode *path_open_parent(ntfs_volume *vol, const char *path, const char **leaf);

/* Removes a file or a whole directory tree; a missing path is not an error. */
int path_remove(ntfs_volume *vol, const char *path);

/* Joins "dir" and "name" into a new string. */
char *path_join(const char *dir, const char *name);

/* UTF-8 to NTFS UTF-16; returns the length in characters or -1. Free *out. */
int to_ntfs_name(const char *name, ntfschar **out);

#endif
