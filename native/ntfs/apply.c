/*
 * `lamina_ntfs apply VOLUME`: changes a volume from a stream of operations on stdin. This is how
 * TypeScript writes trees it does not hold in NTFS form (a folder, a zip, the synthetic gold
 * image, layer metadata, merged hives) without extracting them to a temporary tree.
 *
 * One operation per line, the path (UTF-8, '/'-separated, may contain spaces) always last:
 *   dir PATH                      make a directory (merged if it exists)
 *   file SIZE PATH                create or replace a file; SIZE raw bytes follow the line
 *   data SIZE PATH                replace the main stream of an existing file, metadata kept
 *   stream SIZE PATH:NAME         add an alternate data stream; SIZE bytes follow
 *   security HEX PATH             self-relative security descriptor
 *   reparse HEX PATH              reparse point buffer
 *   attributes HEX PATH           FILE_ATTRIBUTE_* bits
 *   times CREATED WRITTEN ACCESSED PATH   NTFS ticks
 *   delete PATH                   remove a file or a tree, if present
 */
#include "apply.h"
#include "entry.h"
#include "fail.h"
#include "path.h"
#include "progress.h"

static ssize_t read_stdin(void *context, void *buffer, size_t length)
{
	(void)context;
	size_t got = fread(buffer, 1, length, stdin);
	return got ? (ssize_t)got : (ferror(stdin) ? -1 : 0);
}

static int parse_hex(const char *hex, char **out, size_t *out_len)
{
	size_t len = strlen(hex);
	if (len % 2)
		return -1;
	*out = malloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		unsigned byte;
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			free(*out);
			return -1;
		}
		(*out)[i] = (char)byte;
	}
	*out_len = len / 2;
	return 0;
}

/* Splits "word rest" in place: returns rest, or NULL if there is no space. */
static char *next_field(char *line)
{
	char *space = strchr(line, ' ');
	if (!space)
		return NULL;
	*space = '\0';
	return space + 1;
}

static int write_file(ntfs_volume *vol, const char *path, u64 size)
{
	int created;
	ntfs_inode *ni = entry_create(vol, path, 0, &created);
	if (!ni)
		return -1;
	int rc = entry_write_stream(ni, NULL, 0, size, read_stdin, NULL);
	return ntfs_inode_close(ni) || rc;
}

static int replace_data(ntfs_volume *vol, const char *path, u64 size)
{
	ntfs_inode *ni = path_open(vol, path);
	if (!ni)
		return -1;
	struct entry_meta meta;
	int rc = entry_read_meta(ni, &meta);
	/* Keep the times the file had, not the time of this write. */
	rc = rc || entry_write_stream(ni, NULL, 0, size, read_stdin, NULL);
	rc = rc || entry_write_meta(ni, &meta);
	entry_meta_free(&meta);
	return ntfs_inode_close(ni) || rc;
}

static int write_named_stream(ntfs_volume *vol, char *path_and_name, u64 size)
{
	char *colon = strchr(path_and_name, ':');
	if (!colon) {
		errno = EINVAL;
		return -1;
	}
	*colon = '\0';
	ntfs_inode *ni = path_open(vol, path_and_name);
	if (!ni)
		return -1;
	ntfschar *uname;
	int len = to_ntfs_name(colon + 1, &uname);
	int rc = len > 0 ? entry_write_stream(ni, uname, len, size, read_stdin, NULL) : -1;
	free(uname);
	return ntfs_inode_close(ni) || rc;
}

static int make_dir(ntfs_volume *vol, const char *path)
{
	int created;
	ntfs_inode *ni = strcmp(path, "/") ? entry_create(vol, path, 1, &created) : path_open(vol, "/");
	return ni ? ntfs_inode_close(ni) : -1;
}

/* Applies one piece of metadata; the other fields of `meta` stay unset. */
static int set_meta(ntfs_volume *vol, const char *path, const struct entry_meta *meta)
{
	ntfs_inode *ni = path_open(vol, path);
	if (!ni)
		return -1;
	int rc = entry_write_meta(ni, meta);
	return ntfs_inode_close(ni) || rc;
}

static int apply_line(ntfs_volume *vol, char *line)
{
	char *args = next_field(line);
	struct entry_meta meta;
	memset(&meta, 0, sizeof(meta));
	if (!args) {
		errno = EINVAL;
		return -1;
	}
	if (!strcmp(line, "dir"))
		return make_dir(vol, args);
	if (!strcmp(line, "delete"))
		return path_remove(vol, args);

	char *path = next_field(args);
	if (!path) {
		errno = EINVAL;
		return -1;
	}
	if (!strcmp(line, "file"))
		return write_file(vol, path, strtoull(args, NULL, 10));
	if (!strcmp(line, "data"))
		return replace_data(vol, path, strtoull(args, NULL, 10));
	if (!strcmp(line, "stream"))
		return write_named_stream(vol, path, strtoull(args, NULL, 10));
	if (!strcmp(line, "attributes")) {
		meta.has_attributes = 1;
		meta.attributes = (u32)strtoul(args, NULL, 16);
		return set_meta(vol, path, &meta);
	}
	int rc = -1;
	if (!strcmp(line, "security") && !parse_hex(args, &meta.security, &meta.security_len))
		rc = set_meta(vol, path, &meta);
	else if (!strcmp(line, "reparse") && !parse_hex(args, &meta.reparse, &meta.reparse_len))
		rc = set_meta(vol, path, &meta);
	else if (!strcmp(line, "times")) {
		/* times C W A PATH: `path` holds "W A PATH" here. */
		char *accessed = next_field(path), *rest = accessed ? next_field(accessed) : NULL;
		if (rest) {
			meta.has_times = 1;
			meta.times[0] = strtoull(args, NULL, 10);
			meta.times[1] = strtoull(path, NULL, 10);
			meta.times[2] = strtoull(accessed, NULL, 10);
			rc = set_meta(vol, rest, &meta);
		}
	} else
		errno = EINVAL;
	entry_meta_free(&meta);
	return rc;
}

int apply_operations(ntfs_volume *vol)
{
	char *line = NULL;
	size_t capacity = 0;
	ssize_t len;
	unsigned long number = 0;
	progress_start("apply", 0);
	while ((len = getline(&line, &capacity, stdin)) > 0) {
		number++;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		char *copy = strdup(line);
		if (apply_line(vol, line)) {
			fail("operation %lu failed: %s (%s)", number, copy, strerror(errno));
			free(copy);
			free(line);
			return -1;
		}
		free(copy);
	}
	free(line);
	progress_finish();
	return 0;
}
