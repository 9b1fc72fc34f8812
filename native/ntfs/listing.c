#include <unistd.h>
#include "listing.h"
#include "entry.h"
#include "fail.h"
#include "path.h"
#include "walk.h"

static void print_json_string(const char *text)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static int print_entry(void *context, const char *path, ntfs_inode *ni, enum walk_step step)
{
	struct stream_list streams;
	u64 size = 0;
	(void)context;
	if (step != WALK_ENTER)
		return 0;
	if (entry_list_streams(ni, &streams))
		return -1;
	for (size_t i = 0; i < streams.count; i++)
		size += streams.sizes[i];
	stream_list_free(&streams);
	printf("{\"path\":");
	print_json_string(path);
	printf(",\"dir\":%s,\"size\":%llu}\n", inode_is_dir(ni) ? "true" : "false",
	       (unsigned long long)size);
	return 0;
}

int list_volume(ntfs_volume *vol, const char *top)
{
	errno = 0;
	int rc = walk_tree(vol, top, print_entry, NULL);
	if (rc && errno == ENOENT && strcmp(top, "/"))
		rc = 0;
	fflush(stdout);
	return rc;
}

int cat_stream(ntfs_volume *vol, const char *path_and_stream)
{
	char *path = strdup(path_and_stream);
	char *colon = strchr(path, ':');
	ntfschar *stream_name = NULL;
	int stream_len = 0;
	if (colon) {
		*colon = '\0';
		stream_len = to_ntfs_name(colon + 1, &stream_name);
	}
	ntfs_inode *ni = path_open(vol, path);
	ntfs_attr *na = ni ? ntfs_attr_open(ni, AT_DATA, stream_len ? stream_name : AT_UNNAMED,
					    (u32)stream_len)
			   : NULL;
	int rc = -1;
	if (na) {
		char buffer[65536];
		s64 offset = 0, got;
		while ((got = ntfs_attr_pread(na, offset, sizeof(buffer), buffer)) > 0) {
			if (fwrite(buffer, 1, (size_t)got, stdout) != (size_t)got)
				break;
			offset += got;
		}
		rc = got == 0 ? 0 : -1;
		ntfs_attr_close(na);
	}
	if (rc)
		fail("%s: %s", path_and_stream, strerror(errno ? errno : EIO));
	if (ni)
		ntfs_inode_close(ni);
	free(stream_name);
	free(path);
	fflush(stdout);
	return rc;
}
