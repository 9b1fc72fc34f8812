#include "path.h"

static int collect_child(void *context, const ntfschar *name, const int name_len,
			 const int name_type, const s64 pos, const MFT_REF mref,
			 const unsigned dt_type)
{
	struct dir_listing *listing = context;
	char *utf8 = NULL;
	(void)pos;
	/* A file with a short 8.3 name appears twice; the Win32/POSIX name is the real one. */
	if (name_type == FILE_NAME_DOS)
		return 0;
	if (ntfs_ucstombs(name, name_len, &utf8, 0) < 0)
		return -1;
	if (!strcmp(utf8, ".") || !strcmp(utf8, "..")) {
		free(utf8);
		return 0;
	}
	if (listing->count == listing->capacity) {
		listing->capacity = listing->capacity ? 2 * listing->capacity : 16;
		listing->names = realloc(listing->names, listing->capacity * sizeof(char *));
		listing->is_dir = realloc(listing->is_dir, listing->capacity * sizeof(int));
		listing->mrefs = realloc(listing->mrefs, listing->capacity * sizeof(MFT_REF));
	}
	listing->names[listing->count] = utf8;
	listing->is_dir[listing->count] = dt_type == NTFS_DT_DIR;
	listing->mrefs[listing->count] = mref;
	listing->count++;
	return 0;
}

int dir_list(ntfs_inode *dir, struct dir_listing *out)
{
	s64 pos = 0;
	memset(out, 0, sizeof(*out));
	return ntfs_readdir(dir, &pos, out, collect_child);
}

void dir_listing_free(struct dir_listing *listing)
{
	for (size_t i = 0; i < listing->count; i++)
		free(listing->names[i]);
	free(listing->names);
	free(listing->is_dir);
	free(listing->mrefs);
	memset(listing, 0, sizeof(*listing));
}

ntfs_inode *path_open(ntfs_volume *vol, const char *path)
{
	return ntfs_pathname_to_inode(vol, NULL, path);
}

int inode_is_dir(ntfs_inode *ni)
{
	return (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY) != 0;
}

char *path_join(const char *dir, const char *name)
{
	size_t dir_len = strlen(dir);
	int needs_slash = dir_len == 0 || dir[dir_len - 1] != '/';
	char *joined = malloc(dir_len + strlen(name) + 2);
	sprintf(joined, needs_slash ? "%s/%s" : "%s%s", dir, name);
	return joined;
}

int to_ntfs_name(const char *name, ntfschar **out)
{
	*out = NULL;
	return ntfs_mbstoucs(name, out);
}

static ntfs_inode *create_child_dir(ntfs_inode *parent, const char *name)
{
	ntfschar *uname;
	int len = to_ntfs_name(name, &uname);
	if (len <= 0)
		return NULL;
	ntfs_inode *child = ntfs_create(parent, const_cpu_to_le32(0), uname, (u8)len, S_IFDIR);
	free(uname);
	return child;
}

ntfs_inode *path_open_parent(ntfs_volume *vol, const char *path, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1]) {
		errno = EINVAL;
		return NULL;
	}
	*leaf = slash + 1;
	char *parent_path = strndup(path, (size_t)(slash - path));
	ntfs_inode *dir = path_open(vol, *parent_path ? parent_path : "/");
	if (!dir && errno == ENOENT) {
		const char *parent_leaf;
		ntfs_inode *grandparent = path_open_parent(vol, parent_path, &parent_leaf);
		if (grandparent) {
			dir = create_child_dir(grandparent, parent_leaf);
			ntfs_inode_close(grandparent);
		}
	}
	if (dir && !inode_is_dir(dir)) {
		ntfs_inode_close(dir);
		dir = NULL;
		errno = ENOTDIR;
	}
	free(parent_path);
	return dir;
}

static int remove_children(ntfs_volume *vol, const char *path, ntfs_inode *dir)
{
	struct dir_listing children;
	int rc = dir_list(dir, &children);
	for (size_t i = 0; rc == 0 && i < children.count; i++) {
		char *child = path_join(path, children.names[i]);
		rc = path_remove(vol, child);
		free(child);
	}
	dir_listing_free(&children);
	return rc;
}

int path_remove(ntfs_volume *vol, const char *path)
{
	ntfs_inode *ni = path_open(vol, path);
	if (!ni)
		return errno == ENOENT ? 0 : -1;
	int is_dir = inode_is_dir(ni);
	int rc = is_dir ? remove_children(vol, path, ni) : 0;
	ntfs_inode_close(ni);
	if (rc)
		return rc;

	const char *leaf;
	ntfs_inode *parent = path_open_parent(vol, path, &leaf);
	ni = parent ? path_open(vol, path) : NULL;
	if (!ni) {
		if (parent)
			ntfs_inode_close(parent);
		return -1;
	}
	ntfschar *uname;
	int len = to_ntfs_name(leaf, &uname);
	/* ntfs_delete always closes both inodes. */
	rc = ntfs_delete(vol, path, ni, parent, uname, (u8)len);
	free(uname);
	return rc;
}
