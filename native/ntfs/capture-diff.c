#include "capture-diff.h"
#include <ntfs-3g/mst.h>
#include "entry.h"
#include "fail.h"
#include "path.h"
#include "record-path.h"
#include "walk.h"

/* Records read per request: 4 MiB of MFT at the usual 1 KiB record size. */
#define BATCH_RECORDS 4096

/* What the first pass learns of each record number, per volume. */
enum {
	IN_USE = 1,	/* a base record of a file or directory in use */
	CHANGED = 2,	/* differs between the volumes (itself or one of its extension records) */
	INSPECTED = 4,	/* read and compared (every record, unless a block map narrowed them down) */
};

/* A run of MFT records to compare. */
struct segment {
	u64 first, count;
};

struct segments {
	struct segment *items;
	size_t count, room;
};

struct mft_reader {
	ntfs_volume *vol;
	u64 records;
	u32 record_size;
	u8 *buffer;
};

static void reader_init(struct mft_reader *reader, ntfs_volume *vol)
{
	reader->vol = vol;
	reader->record_size = vol->mft_record_size;
	reader->records = (u64)vol->mft_na->initialized_size >> vol->mft_record_size_bits;
	reader->buffer = malloc((size_t)BATCH_RECORDS * reader->record_size);
}

/*
 * Reads records [first, first + count) into the buffer, fixups applied; a record past the
 * volume's MFT, or one that is not a valid FILE record, reads as all zeros (not in use).
 */
static int reader_read(struct mft_reader *reader, u64 first, u64 count)
{
	size_t size = reader->record_size;
	memset(reader->buffer, 0, count * size);
	if (first >= reader->records)
		return 0;
	u64 present = first + count > reader->records ? reader->records - first : count;
	s64 want = (s64)(present * size);
	if (ntfs_attr_pread(reader->vol->mft_na, (s64)(first * size), want, reader->buffer) != want)
		return -1;
	for (u64 i = 0; i < present; i++) {
		MFT_RECORD *m = (MFT_RECORD *)(reader->buffer + i * size);
		if (!ntfs_is_file_record(m->magic) ||
		    ntfs_mst_post_read_fixup_warn((NTFS_RECORD *)m, (u32)size, FALSE))
			memset(m, 0, size);
	}
	return 0;
}

static MFT_RECORD *reader_record(struct mft_reader *reader, u64 index)
{
	return (MFT_RECORD *)(reader->buffer + index * reader->record_size);
}

static int in_use(const MFT_RECORD *m)
{
	return (m->flags & MFT_RECORD_IN_USE) != 0;
}

/* Blanks what changes in a record when its file does not (see capture-diff.h). */
static void normalize(MFT_RECORD *m, u32 size)
{
	u32 used = le32_to_cpu(m->bytes_in_use);
	if (used > size)
		return;
	m->lsn = 0;
	u32 usa = le16_to_cpu(m->usa_ofs), usa_bytes = 2u * le16_to_cpu(m->usa_count);
	if (usa + usa_bytes <= used)
		memset((u8 *)m + usa, 0, usa_bytes);
	for (u32 at = le16_to_cpu(m->attrs_offset); at + 8 <= used;) {
		ATTR_RECORD *a = (ATTR_RECORD *)((u8 *)m + at);
		u32 length = le32_to_cpu(a->length);
		if (a->type == AT_END || length == 0 || at + length > used)
			break;
		if (a->type == AT_STANDARD_INFORMATION && !a->non_resident) {
			u32 value_length = le32_to_cpu(a->value_length);
			u8 *value = (u8 *)a + le16_to_cpu(a->value_offset);
			if (value + value_length <= (u8 *)m + used) {
				if (value_length >= 0x20)
					memset(value + 0x18, 0, 8); /* last_access_time */
				if (value_length >= 0x48)
					memset(value + 0x40, 0, 8); /* usn */
			}
		}
		at += length;
	}
}

static int same_record(MFT_RECORD *a, MFT_RECORD *b, u32 size)
{
	if (a->bytes_in_use != b->bytes_in_use || le32_to_cpu(a->bytes_in_use) > size)
		return 0;
	normalize(a, size);
	normalize(b, size);
	return !memcmp(a, b, le32_to_cpu(a->bytes_in_use));
}

/* The record a record belongs to: itself, or the base record of an extension record. */
static u64 owner(const MFT_RECORD *m, u64 index)
{
	u64 base = MREF_LE(m->base_mft_record);
	return base ? base : index;
}

static int mark(unsigned char *state, u64 records, u64 index, unsigned char flag)
{
	if (index >= records)
		return 0; /* a damaged reference; the record itself is still compared */
	state[index] |= flag;
	return 0;
}

static void segments_add(struct segments *list, u64 first, u64 end)
{
	if (end <= first)
		return;
	if (list->count == list->room) {
		list->room = list->room ? 2 * list->room : 64;
		list->items = realloc(list->items, list->room * sizeof(*list->items));
	}
	list->items[list->count++] = (struct segment){first, end - first};
}

static int by_first(const void *a, const void *b)
{
	u64 x = ((const struct segment *)a)->first, y = ((const struct segment *)b)->first;
	return x < y ? -1 : x > y;
}

/* Sorted, with overlapping and touching segments joined. */
static void segments_merge(struct segments *list)
{
	if (!list->count)
		return;
	qsort(list->items, list->count, sizeof(*list->items), by_first);
	size_t kept = 0;
	for (size_t i = 1; i < list->count; i++) {
		struct segment *last = &list->items[kept], *next = &list->items[i];
		if (next->first <= last->first + last->count) {
			u64 end = next->first + next->count;
			if (end > last->first + last->count)
				last->count = end - last->first;
		} else {
			list->items[++kept] = *next;
		}
	}
	list->count = kept + 1;
}

/* The run of `rl` holding cluster `vcn`, or NULL. */
static const runlist_element *run_at(const runlist_element *rl, VCN vcn)
{
	for (; rl && rl->length; rl++)
		if (vcn >= rl->vcn && vcn < rl->vcn + rl->length)
			return rl;
	return NULL;
}

/*
 * Whether the MFT lies in the same clusters in both volumes as far as both reach, so a record
 * whose clusters no block of the child holds is the same record in both.
 */
static int same_mft_placement(ntfs_volume *base, ntfs_volume *after)
{
	if (ntfs_attr_map_whole_runlist(base->mft_na) || ntfs_attr_map_whole_runlist(after->mft_na))
		return 0;
	for (const runlist_element *a = after->mft_na->rl; a && a->length; a++) {
		for (VCN vcn = a->vcn; vcn < a->vcn + a->length;) {
			const runlist_element *b = run_at(base->mft_na->rl, vcn);
			if (!b)
				break; /* past the base's MFT: those records are compared anyway */
			if (a->lcn < 0 || b->lcn < 0 || b->lcn + (vcn - b->vcn) != a->lcn + (vcn - a->vcn))
				return 0;
			vcn = b->vcn + b->length < a->vcn + a->length ? b->vcn + b->length : a->vcn + a->length;
		}
	}
	return 1;
}

/*
 * Reads CHANGED_FILE: little-endian u64 pairs (offset, length), the byte ranges of the volume
 * AFTER's disk holds itself (a child's own blocks); everything else is BASE's, unchanged. Answers
 * the records whose bytes lie in those ranges, plus those past either volume's MFT; -1 when the
 * file is unreadable. A NULL file, or MFTs placed differently, give every record.
 */
static int records_to_compare(ntfs_volume *base, ntfs_volume *after, const char *changed_file, u64 base_records,
			      u64 after_records, struct segments *out)
{
	u64 records = base_records > after_records ? base_records : after_records;
	u64 common = base_records < after_records ? base_records : after_records;
	if (!changed_file || !same_mft_placement(base, after)) {
		segments_add(out, 0, records);
		return 0;
	}
	FILE *f = fopen(changed_file, "rb");
	if (!f) {
		fail("cannot read the changed ranges %s (%s)", changed_file, strerror(errno));
		return -1;
	}
	u64 pair[2];
	u32 record_size = after->mft_record_size;
	u8 bits = after->cluster_size_bits;
	while (fread(pair, sizeof(pair), 1, f) == 1) {
		u64 from = le64_to_cpu(pair[0]), to = from + le64_to_cpu(pair[1]);
		for (const runlist_element *r = after->mft_na->rl; r && r->length; r++) {
			u64 run_from = (u64)r->lcn << bits, run_to = (u64)(r->lcn + r->length) << bits;
			if (r->lcn < 0 || to <= run_from || from >= run_to)
				continue;
			/* The part of the run in the range, as offsets into the MFT, then as records. */
			u64 stream = (u64)r->vcn << bits;
			u64 start = stream + ((from > run_from ? from : run_from) - run_from);
			u64 end = stream + ((to < run_to ? to : run_to) - run_from);
			u64 last = (end + record_size - 1) / record_size;
			segments_add(out, start / record_size, last < common ? last : common);
		}
	}
	fclose(f);
	segments_add(out, common, records);
	segments_merge(out);
	return 0;
}

static void note_record(MFT_RECORD *b, MFT_RECORD *a, u64 index, u32 size, unsigned char *in_base,
			unsigned char *in_after, u64 records)
{
	in_base[index] |= INSPECTED;
	in_after[index] |= INSPECTED;
	if (in_use(b) && !b->base_mft_record)
		in_base[index] |= IN_USE;
	if (in_use(a) && !a->base_mft_record)
		in_after[index] |= IN_USE;
	if (!in_use(b) && !in_use(a))
		return;
	if (in_use(b) == in_use(a) && same_record(b, a, size))
		return;
	if (in_use(b))
		mark(in_base, records, owner(b, index), CHANGED);
	if (in_use(a))
		mark(in_after, records, owner(a, index), CHANGED);
}

/* First pass: which records are in use in each volume, and which differ, of those in `segments`. */
static int compare_records(struct mft_reader *base, struct mft_reader *after, unsigned char *in_base,
			   unsigned char *in_after, u64 records, const struct segments *segments)
{
	for (size_t s = 0; s < segments->count; s++) {
		u64 end = segments->items[s].first + segments->items[s].count;
		for (u64 first = segments->items[s].first; first < end; first += BATCH_RECORDS) {
			u64 count = end - first < BATCH_RECORDS ? end - first : BATCH_RECORDS;
			if (reader_read(base, first, count) || reader_read(after, first, count)) {
				fail("cannot read the MFT at record %llu (%s)", (unsigned long long)first,
				     strerror(errno));
				return -1;
			}
			for (u64 i = 0; i < count; i++)
				note_record(reader_record(base, i), reader_record(after, i), first + i,
					    base->record_size, in_base, in_after, records);
		}
	}
	return 0;
}

/*
 * A record marked changed by an extension record of it, but not itself among the records
 * compared: read now, for whether it is in use in each volume.
 */
static int inspect_owner(struct mft_reader *base, struct mft_reader *after, unsigned char *in_base,
			 unsigned char *in_after, u64 records, u64 index)
{
	if (reader_read(base, index, 1) || reader_read(after, index, 1)) {
		fail("cannot read MFT record %llu (%s)", (unsigned long long)index, strerror(errno));
		return -1;
	}
	note_record(reader_record(base, 0), reader_record(after, 0), index, base->record_size, in_base,
		    in_after, records);
	return 0;
}

static u64 stream_bytes(ntfs_inode *ni)
{
	struct stream_list streams;
	u64 size = 0;
	if (entry_list_streams(ni, &streams))
		return 0;
	for (size_t i = 0; i < streams.count; i++)
		size += streams.sizes[i];
	stream_list_free(&streams);
	return size;
}

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

static void print_change(const char *change, const char *path, ntfs_inode *ni)
{
	int dir = inode_is_dir(ni);
	printf("{\"change\":\"%s\",\"path\":", change);
	print_json_string(path);
	printf(",\"dir\":%s,\"size\":%llu}\n", dir ? "true" : "false",
	       (unsigned long long)(dir ? 0 : stream_bytes(ni)));
}

static int print_added(void *context, const char *path, ntfs_inode *ni, enum walk_step step)
{
	(void)context;
	if (step == WALK_ENTER)
		print_change("added", path, ni);
	return 0;
}

/* Second pass, for one record that differs: which paths went, came or changed. */
static int report_record(ntfs_volume *base_vol, ntfs_volume *after_vol, struct record_paths *base_paths,
			 struct record_paths *after_paths, u64 index, int in_base, int in_after)
{
	ntfs_inode *b = in_base ? ntfs_inode_open(base_vol, index) : NULL;
	ntfs_inode *a = in_after ? ntfs_inode_open(after_vol, index) : NULL;
	int rc = 0;
	if ((in_base && !b) || (in_after && !a)) {
		fail("cannot open MFT record %llu of the %s volume (%s)", (unsigned long long)index,
		     in_base && !b ? "base" : "after", strerror(errno));
		rc = -1;
	}
	struct path_list before = {0}, now = {0};
	if (rc == 0 && b && record_paths_of(base_paths, b, &before))
		rc = -1;
	if (rc == 0 && a && record_paths_of(after_paths, a, &now))
		rc = -1;
	/* The same file (same record, same sequence number) in both, possibly renamed or relinked. */
	int same = rc == 0 && a && b && a->mrec->sequence_number == b->mrec->sequence_number &&
		   inode_is_dir(a) == inode_is_dir(b);
	for (size_t i = 0; rc == 0 && i < before.count; i++)
		if (!same || !path_list_contains(after_vol, &now, before.paths[i]))
			print_change("deleted", before.paths[i], b);
	for (size_t i = 0; rc == 0 && i < now.count; i++) {
		if (same && path_list_contains(base_vol, &before, now.paths[i])) {
			/* A directory's record changes with its entries; what it holds is reported itself. */
			if (!inode_is_dir(a))
				print_change("changed", now.paths[i], a);
			continue;
		}
		print_change("added", now.paths[i], a);
		/* A directory moved here brings records that did not change, but their paths did. */
		if (same && inode_is_dir(a))
			rc = walk_tree(after_vol, now.paths[i], print_added, NULL);
	}
	if (rc && errno)
		fail("MFT record %llu: %s", (unsigned long long)index, strerror(errno));
	path_list_free(&before);
	path_list_free(&now);
	if (b)
		ntfs_inode_close(b);
	if (a)
		ntfs_inode_close(a);
	return rc;
}

int capture_diff(ntfs_volume *base, ntfs_volume *after, const char *changed_file)
{
	if (base->mft_record_size != after->mft_record_size) {
		fail("the volumes have different MFT record sizes (%u and %u bytes): not the same volume",
		     base->mft_record_size, after->mft_record_size);
		return -1;
	}
	struct mft_reader base_reader, after_reader;
	reader_init(&base_reader, base);
	reader_init(&after_reader, after);
	u64 records = base_reader.records > after_reader.records ? base_reader.records : after_reader.records;
	unsigned char *in_base = calloc(records, 1), *in_after = calloc(records, 1);
	struct segments segments = {0};
	int rc = records_to_compare(base, after, changed_file, base_reader.records, after_reader.records,
				    &segments);
	if (rc == 0)
		rc = compare_records(&base_reader, &after_reader, in_base, in_after, records, &segments);
	free(segments.items);
	for (u64 index = FILE_first_user; rc == 0 && index < records; index++)
		if ((in_base[index] | in_after[index]) & CHANGED && !(in_base[index] & INSPECTED))
			rc = inspect_owner(&base_reader, &after_reader, in_base, in_after, records, index);
	free(base_reader.buffer);
	free(after_reader.buffer);
	struct record_paths *base_paths = record_paths_new(base), *after_paths = record_paths_new(after);
	for (u64 index = FILE_first_user; rc == 0 && index < records; index++) {
		int changed = (in_base[index] | in_after[index]) & CHANGED;
		if (changed)
			rc = report_record(base, after, base_paths, after_paths, index,
					   (in_base[index] & IN_USE) != 0, (in_after[index] & IN_USE) != 0);
	}
	u64 compared = 0;
	for (u64 index = 0; index < records; index++)
		compared += (in_base[index] & INSPECTED) != 0;
	if (rc == 0)
		printf("{\"compared\":%llu,\"records\":%llu}\n", (unsigned long long)compared,
		       (unsigned long long)records);
	record_paths_free(base_paths);
	record_paths_free(after_paths);
	free(in_base);
	free(in_after);
	fflush(stdout);
	return rc;
}
