#include "capture-copy.h"
#include "entry.h"
#include "fail.h"
#include "overlay.h"
#include "path.h"
#include "progress.h"

struct created_dirs {
	char **paths;
	struct entry_meta *metas;
	size_t count;
};

static int copy_one(ntfs_volume *source, ntfs_volume *target, const char *path, int is_dir,
		    struct created_dirs *dirs)
{
	ntfs_inode *from = path_open(source, path);
	if (!from)
		return -1;
	if (inode_is_dir(from) != is_dir) {
		ntfs_inode_close(from);
		errno = is_dir ? ENOTDIR : EISDIR;
		return -1;
	}
	struct entry_meta meta;
	int created = 0, rc = entry_read_meta(from, &meta);
	ntfs_inode *to = rc ? NULL : entry_create(target, path, is_dir, &created);
	if (!to) {
		rc = -1;
	} else if (!is_dir) {
		rc = overlay_copy_streams(from, to) || entry_write_meta(to, &meta);
	} else if (created) {
		/* Times last, after the directory's children are in: adding them changes its times. */
		u64 times[3];
		int has_times = meta.has_times;
		memcpy(times, meta.times, sizeof(times));
		meta.has_times = 0;
		rc = entry_write_meta(to, &meta);
		meta.has_times = has_times;
		memcpy(meta.times, times, sizeof(times));
		dirs->paths = realloc(dirs->paths, (dirs->count + 1) * sizeof(char *));
		dirs->metas = realloc(dirs->metas, (dirs->count + 1) * sizeof(struct entry_meta));
		dirs->paths[dirs->count] = strdup(path);
		dirs->metas[dirs->count++] = meta;
		memset(&meta, 0, sizeof(meta)); /* kept in dirs */
	}
	int error = errno;
	if (to && ntfs_inode_close(to) && !rc) {
		rc = -1;
		error = errno;
	}
	ntfs_inode_close(from);
	entry_meta_free(&meta);
	errno = error;
	return rc;
}

int copy_paths(ntfs_volume *source, ntfs_volume *target, uint64_t total_bytes)
{
	struct created_dirs dirs = {0};
	char *line = NULL;
	size_t capacity = 0;
	ssize_t len;
	int rc = 0;
	progress_start("capture", total_bytes);
	while (rc == 0 && (len = getline(&line, &capacity, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		int is_dir = !strncmp(line, "dir ", 4), is_file = !strncmp(line, "file ", 5);
		const char *path = line + (is_dir ? 4 : 5);
		if (!is_dir && !is_file) {
			fail("bad copy line: %s", line);
			rc = -1;
		} else if (copy_one(source, target, path, is_dir, &dirs)) {
			fail("%s: %s", path, strerror(errno));
			rc = -1;
		}
	}
	for (size_t i = dirs.count; i-- > 0;) {
		if (rc == 0 && overlay_set_times(target, dirs.paths[i], &dirs.metas[i])) {
			fail("%s: %s", dirs.paths[i], strerror(errno));
			rc = -1;
		}
		free(dirs.paths[i]);
		entry_meta_free(&dirs.metas[i]);
	}
	free(dirs.paths);
	free(dirs.metas);
	free(line);
	progress_finish();
	return rc;
}
