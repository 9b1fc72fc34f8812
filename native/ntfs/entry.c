#include <unistd.h>
#include "entry.h"
#include "path.h"
#include "progress.h"

#define COPY_CHUNK (8 * 1024 * 1024)

static struct SECURITY_CONTEXT security_context(ntfs_volume *vol)
{
	struct SECURITY_CONTEXT scx;
	memset(&scx, 0, sizeof(scx));
	scx.vol = vol;
	return scx;
}

/* libntfs-3g's xattr-style getters return the size needed when called with no buffer. */
static int read_blob(int (*get)(void *, ntfs_inode *, char *, size_t), void *arg, ntfs_inode *ni,
		     char **out, size_t *out_len)
{
	int size = get(arg, ni, NULL, 0);
	*out = NULL;
	*out_len = 0;
	if (size <= 0)
		return 0; /* absent */
	*out = malloc((size_t)size);
	if (get(arg, ni, *out, (size_t)size) != size) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*out_len = (size_t)size;
	return 0;
}

static int get_security(void *scx, ntfs_inode *ni, char *value, size_t size)
{
	return ntfs_get_ntfs_acl(scx, ni, value, size);
}

static int get_reparse(void *unused, ntfs_inode *ni, char *value, size_t size)
{
	(void)unused;
	return ntfs_get_ntfs_reparse_data(ni, value, size);
}

int entry_read_meta(ntfs_inode *ni, struct entry_meta *meta)
{
	struct SECURITY_CONTEXT scx = security_context(ni->vol);
	memset(meta, 0, sizeof(*meta));
	meta->has_attributes = ntfs_get_ntfs_attrib(ni, (char *)&meta->attributes,
						    sizeof(meta->attributes)) == sizeof(u32);
	meta->has_times = ntfs_inode_get_times(ni, (char *)meta->times, sizeof(meta->times)) ==
			  sizeof(meta->times);
	if (read_blob(get_security, &scx, ni, &meta->security, &meta->security_len))
		return -1;
	if ((ni->flags & FILE_ATTR_REPARSE_POINT) &&
	    read_blob(get_reparse, NULL, ni, &meta->reparse, &meta->reparse_len))
		return -1;
	return 0;
}

void entry_meta_free(struct entry_meta *meta)
{
	free(meta->security);
	free(meta->reparse);
	memset(meta, 0, sizeof(*meta));
}

int entry_write_meta(ntfs_inode *ni, const struct entry_meta *meta)
{
	struct SECURITY_CONTEXT scx = security_context(ni->vol);
	if (meta->reparse && ntfs_set_ntfs_reparse_data(ni, meta->reparse, meta->reparse_len, 0))
		return -1;
	if (meta->security &&
	    ntfs_set_ntfs_acl(&scx, ni, meta->security, meta->security_len, 0))
		return -1;
	if (meta->has_attributes &&
	    ntfs_set_ntfs_attrib(ni, (const char *)&meta->attributes, sizeof(u32), 0))
		return -1;
	if (meta->has_times &&
	    ntfs_inode_set_times(ni, (const char *)meta->times, sizeof(meta->times), 0))
		return -1;
	return 0;
}

ntfs_inode *entry_create(ntfs_volume *vol, const char *path, int is_dir, int *created)
{
	*created = 0;
	ntfs_inode *existing = path_open(vol, path);
	if (existing) {
		if (is_dir && inode_is_dir(existing))
			return existing;
		ntfs_inode_close(existing);
		if (path_remove(vol, path))
			return NULL;
	} else if (errno != ENOENT) {
		return NULL;
	}
	const char *leaf;
	ntfs_inode *parent = path_open_parent(vol, path, &leaf);
	if (!parent)
		return NULL;
	ntfschar *uname;
	int len = to_ntfs_name(leaf, &uname);
	ntfs_inode *ni = len > 0 ? ntfs_create(parent, const_cpu_to_le32(0), uname, (u8)len,
					       is_dir ? S_IFDIR : S_IFREG)
				 : NULL;
	free(uname);
	ntfs_inode_close(parent);
	*created = ni != NULL;
	return ni;
}

/*
 * Packs files: each stream's clusters go right after the previous stream's. libntfs-3g moves its
 * allocation cursor 4096 clusters (16 MiB) past every allocation, files and directory index
 * blocks alike, leaving room for files to grow; an image is written once, and files spread 16
 * MiB apart touch every block of a dynamic VHDX, which then grows to the full disk size for a
 * few GiB of data. `packed_end` is where the last stream written in this process ended.
 */
static LCN packed_end = -1;

static void pack_before(ntfs_volume *vol)
{
	if (packed_end >= vol->mft_zone_end && packed_end < vol->nr_clusters)
		vol->data1_zone_pos = packed_end;
}

/* Also before the next file's directory entry, whose index block may need clusters too. */
static void pack_after(ntfs_attr *na)
{
	if (!NAttrNonResident(na) || ntfs_attr_map_whole_runlist(na))
		return;
	for (runlist_element *r = na->rl; r && r->length; r++)
		if (r->lcn >= 0 && r->lcn + r->length > packed_end)
			packed_end = r->lcn + r->length;
	pack_before(na->ni->vol);
}

int entry_write_stream(ntfs_inode *ni, const ntfschar *name, int name_len, u64 size,
		       stream_reader read, void *context)
{
	ntfschar *attr_name = name_len ? (ntfschar *)name : AT_UNNAMED;
	if (name_len && ntfs_attr_add(ni, AT_DATA, attr_name, (u8)name_len, NULL, 0))
		return -1;
	ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, attr_name, (u32)name_len);
	if (!na)
		return -1;
	/*
	 * One buffer for every stream of the process, page-aligned so a mapped device can write whole
	 * clusters past the page cache: a fresh one per file cost a page fault per 4 KiB it touched.
	 */
	static char *buffer;
	if (!buffer && posix_memalign((void **)&buffer, 4096, COPY_CHUNK)) {
		buffer = NULL;
		ntfs_attr_close(na);
		errno = ENOMEM;
		return -1;
	}
	u64 offset = 0;
	/* Sized up front: the clusters come in one allocation, contiguous where the volume allows. */
	pack_before(ni->vol);
	int rc = ntfs_attr_truncate(na, 0) || ntfs_attr_truncate(na, (s64)size) ? -1 : 0;
	while (rc == 0 && offset < size) {
		size_t want = size - offset < COPY_CHUNK ? (size_t)(size - offset) : COPY_CHUNK;
		ssize_t got = read(context, buffer, want);
		if (got <= 0) {
			errno = got == 0 ? EIO : errno;
			rc = -1;
			break;
		}
		if (ntfs_attr_pwrite(na, (s64)offset, got, buffer) != got)
			rc = -1;
		offset += (u64)got;
		progress_add((u64)got);
	}
	int error = errno; /* closing may overwrite the reason of a failed write */
	if (rc == 0)
		pack_after(na);
	ntfs_attr_close(na);
	errno = error;
	return rc;
}

int entry_list_streams(ntfs_inode *ni, struct stream_list *out)
{
	memset(out, 0, sizeof(*out));
	ntfs_attr_search_ctx *ctx = ntfs_attr_get_search_ctx(ni, NULL);
	if (!ctx)
		return -1;
	while (!ntfs_attr_lookup(AT_DATA, NULL, 0, CASE_SENSITIVE, 0, NULL, 0, ctx)) {
		ATTR_RECORD *attr = ctx->attr;
		/* Large streams continue in extra records; only the first (lowest_vcn 0) names one. */
		if (attr->non_resident && sle64_to_cpu(attr->lowest_vcn) != 0)
			continue;
		size_t i = out->count++;
		out->names = realloc(out->names, out->count * sizeof(ntfschar *));
		out->lengths = realloc(out->lengths, out->count * sizeof(int));
		out->sizes = realloc(out->sizes, out->count * sizeof(u64));
		out->lengths[i] = attr->name_length;
		out->names[i] = malloc((attr->name_length + 1) * sizeof(ntfschar));
		memcpy(out->names[i], (u8 *)attr + le16_to_cpu(attr->name_offset),
		       attr->name_length * sizeof(ntfschar));
		out->sizes[i] = attr->non_resident ? (u64)sle64_to_cpu(attr->data_size)
						   : le32_to_cpu(attr->value_length);
	}
	ntfs_attr_put_search_ctx(ctx);
	return errno == ENOENT ? 0 : -1;
}

void stream_list_free(struct stream_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	free(list->lengths);
	free(list->sizes);
	memset(list, 0, sizeof(*list));
}
