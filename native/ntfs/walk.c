#include "walk.h"
#include "fail.h"
#include "path.h"

static int walk_dir(ntfs_volume *vol, const char *path, ntfs_inode *dir, walk_visitor visit,
		    void *context)
{
	struct dir_listing children;
	int at_root = !strcmp(path, "/");
	int rc = dir_list(dir, &children);
	for (size_t i = 0; rc == 0 && i < children.count; i++) {
		if (at_root && (MREF(children.mrefs[i]) < FILE_first_user ||
				!strcmp(children.names[i], LAMINA_METADATA_DIR)))
			continue;
		char *child_path = path_join(path, children.names[i]);
		ntfs_inode *child = ntfs_inode_open(vol, MREF(children.mrefs[i]));
		if (!child) {
			fail("cannot open %s (%s)", child_path, strerror(errno));
			rc = -1;
		} else {
			rc = visit(context, child_path, child, WALK_ENTER);
			if (rc == 0 && inode_is_dir(child)) {
				rc = walk_dir(vol, child_path, child, visit, context);
				rc = rc ? rc : visit(context, child_path, child, WALK_LEAVE);
			}
			ntfs_inode_close(child);
		}
		free(child_path);
	}
	dir_listing_free(&children);
	return rc;
}

int walk_tree(ntfs_volume *vol, const char *top, walk_visitor visit, void *context)
{
	ntfs_inode *dir = path_open(vol, top);
	if (!dir)
		return -1;
	int rc = walk_dir(vol, top, dir, visit, context);
	ntfs_inode_close(dir);
	return rc;
}
