#include "record-path.h"

struct cached_dir {
	u64 mft_no; /* 0 = empty slot (record 0 is $MFT, never a directory of content) */
	char *path; /* NULL: not content (under a metafile) */
};

struct record_paths {
	ntfs_volume *vol;
	struct cached_dir *slots;
	size_t capacity, used;
};

struct record_paths *record_paths_new(ntfs_volume *vol)
{
	struct record_paths *paths = calloc(1, sizeof(*paths));
	paths->vol = vol;
	paths->capacity = 4096;
	paths->slots = calloc(paths->capacity, sizeof(struct cached_dir));
	return paths;
}

void record_paths_free(struct record_paths *paths)
{
	for (size_t i = 0; i < paths->capacity; i++)
		free(paths->slots[i].path);
	free(paths->slots);
	free(paths);
}

static size_t slot_of(const struct record_paths *paths, u64 mft_no)
{
	size_t i = (size_t)(mft_no * 0x9e3779b97f4a7c15ULL) & (paths->capacity - 1);
	while (paths->slots[i].mft_no && paths->slots[i].mft_no != mft_no)
		i = (i + 1) & (paths->capacity - 1);
	return i;
}

static void cache_put(struct record_paths *paths, u64 mft_no, char *path)
{
	if (2 * (paths->used + 1) > paths->capacity) {
		struct cached_dir *old = paths->slots;
		size_t old_capacity = paths->capacity;
		paths->capacity *= 2;
		paths->slots = calloc(paths->capacity, sizeof(struct cached_dir));
		for (size_t i = 0; i < old_capacity; i++)
			if (old[i].mft_no)
				paths->slots[slot_of(paths, old[i].mft_no)] = old[i];
		free(old);
	}
	size_t i = slot_of(paths, mft_no);
	paths->slots[i].mft_no = mft_no;
	paths->slots[i].path = path;
	paths->used++;
}

/* Calls `found` for each Win32/POSIX $FILE_NAME of the inode; stops at its first non-zero. */
static int for_each_name(ntfs_inode *ni, int (*found)(void *, u64 parent, const char *name),
			 void *context)
{
	ntfs_attr_search_ctx *ctx = ntfs_attr_get_search_ctx(ni, NULL);
	if (!ctx)
		return -1;
	int rc = 0;
	while (rc == 0 && !ntfs_attr_lookup(AT_FILE_NAME, AT_UNNAMED, 0, CASE_SENSITIVE, 0, NULL, 0, ctx)) {
		FILE_NAME_ATTR *fn = (FILE_NAME_ATTR *)((u8 *)ctx->attr + le16_to_cpu(ctx->attr->value_offset));
		if (fn->file_name_type == FILE_NAME_DOS)
			continue;
		/* The name sits unaligned in the packed attribute: copied out before use. */
		ntfschar uname[256];
		memcpy(uname, (u8 *)fn + offsetof(FILE_NAME_ATTR, file_name),
		       fn->file_name_length * sizeof(ntfschar));
		char *name = NULL;
		if (ntfs_ucstombs(uname, fn->file_name_length, &name, 0) < 0) {
			rc = -1;
			break;
		}
		rc = found(context, MREF_LE(fn->parent_directory), name);
		free(name);
	}
	int error = errno;
	ntfs_attr_put_search_ctx(ctx);
	errno = error;
	return rc < 0 ? -1 : 0;
}

static const char *dir_path(struct record_paths *paths, u64 mft_no);

struct first_name {
	u64 parent;
	char *name;
};

static int keep_first(void *context, u64 parent, const char *name)
{
	struct first_name *first = context;
	first->parent = parent;
	first->name = strdup(name);
	return 1;
}

/* The path of directory `mft_no`, or NULL when it is no content directory. */
static const char *dir_path(struct record_paths *paths, u64 mft_no)
{
	if (mft_no == FILE_root)
		return "/";
	if (mft_no < FILE_first_user)
		return NULL;
	size_t slot = slot_of(paths, mft_no);
	if (paths->slots[slot].mft_no == mft_no)
		return paths->slots[slot].path;
	struct first_name first = {0, NULL};
	ntfs_inode *ni = ntfs_inode_open(paths->vol, mft_no);
	if (ni) {
		for_each_name(ni, keep_first, &first);
		ntfs_inode_close(ni);
	}
	char *path = NULL;
	/* A directory is never its own ancestor; a damaged chain that says so is not followed. */
	if (first.name && first.parent != mft_no) {
		const char *parent = dir_path(paths, first.parent);
		if (parent) {
			path = malloc(strlen(parent) + strlen(first.name) + 2);
			sprintf(path, strcmp(parent, "/") ? "%s/%s" : "%s%s", parent, first.name);
		}
	}
	free(first.name);
	cache_put(paths, mft_no, path);
	return path;
}

struct collect {
	struct record_paths *paths;
	struct path_list *out;
};

static int add_path(void *context, u64 parent, const char *name)
{
	struct collect *collect = context;
	const char *dir = dir_path(collect->paths, parent);
	if (!dir)
		return 0;
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(path, strcmp(dir, "/") ? "%s/%s" : "%s%s", dir, name);
	struct path_list *out = collect->out;
	out->paths = realloc(out->paths, (out->count + 1) * sizeof(char *));
	out->paths[out->count++] = path;
	return 0;
}

int record_paths_of(struct record_paths *paths, ntfs_inode *ni, struct path_list *out)
{
	memset(out, 0, sizeof(*out));
	struct collect collect = {paths, out};
	return for_each_name(ni, add_path, &collect);
}

void path_list_free(struct path_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->paths[i]);
	free(list->paths);
	memset(list, 0, sizeof(*list));
}

/* Compares two UTF-8 paths through the volume's upcase table, as NTFS compares names. */
static int same_path(ntfs_volume *vol, const char *a, const char *b)
{
	if (!strcmp(a, b))
		return 1;
	ntfschar *ua = NULL, *ub = NULL;
	int la = ntfs_mbstoucs(a, &ua), lb = ntfs_mbstoucs(b, &ub);
	int same = la >= 0 && la == lb &&
		   !ntfs_names_full_collate(ua, (u32)la, ub, (u32)lb, IGNORE_CASE, vol->upcase, vol->upcase_len);
	free(ua);
	free(ub);
	return same;
}

int path_list_contains(ntfs_volume *vol, const struct path_list *list, const char *path)
{
	for (size_t i = 0; i < list->count; i++)
		if (same_path(vol, list->paths[i], path))
			return 1;
	return 0;
}
