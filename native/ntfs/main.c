/*
 * lamina_ntfs: the compositor's NTFS core, run by the TypeScript driver as a child process.
 * Each sub-command works on NTFS volumes (partition image files, or volumes named as device.h
 * says: served by the parent, or mapped into a disk file being written), writes
 * progress as JSON lines on stdout and errors on stderr, and exits 0 on success.
 */
#include "ntfs.h"
#include "apply.h"
#include "capture-copy.h"
#include "capture-diff.h"
#include "clone.h"
#include "device-reads.h"
#include "listing.h"
#include "overlay.h"
#include "volume.h"

static const char usage[] =
	"usage: lamina_ntfs apply VOLUME            (operations on stdin)\n"
	"       lamina_ntfs overlay LAYER IMAGE\n"
	"       lamina_ntfs list VOLUME [FOLDER]\n"
	"       lamina_ntfs cat VOLUME PATH[:STREAM]\n"
	"       lamina_ntfs clone [--metadata-only] SOURCE TARGET\n"
	"       lamina_ntfs copy-data FILE TARGET\n"
	"       lamina_ntfs bitmap VOLUME FILE\n"
	"       lamina_ntfs finalize VOLUME SERIAL_HEX START_SECTOR\n"
	"       lamina_ntfs read DEVICE                (read requests on stdin)\n"
	"       lamina_ntfs diff BASE AFTER [CHANGED_RANGES]\n"
	"       lamina_ntfs copy-paths SOURCE TARGET TOTAL_BYTES (paths on stdin)\n";

/* Runs `action` on a mounted volume and unmounts it; the unmount's result counts too. */
static int with_volume(const char *file, int read_only, int (*action)(ntfs_volume *, const char *),
		       const char *argument)
{
	ntfs_volume *vol = volume_open(file, read_only);
	if (!vol)
		return 1;
	int rc = action(vol, argument);
	if (volume_close(vol))
		rc = -1;
	return rc ? 1 : 0;
}

static int run_apply(ntfs_volume *vol, const char *unused)
{
	(void)unused;
	return apply_operations(vol);
}

static int run_list(ntfs_volume *vol, const char *top)
{
	return list_volume(vol, top);
}

static int run_overlay(const char *layer_file, const char *image_file)
{
	ntfs_volume *layer = volume_open(layer_file, 1);
	if (!layer)
		return 1;
	ntfs_volume *image = volume_open(image_file, 0);
	int rc = image ? overlay_volume(layer, image) : -1;
	if (image && volume_close(image))
		rc = -1;
	ntfs_umount(layer, FALSE);
	return rc ? 1 : 0;
}

/* Runs `action` on two volumes, the second one writable or not; both unmounts count. */
static int with_two_volumes(const char *first_file, const char *second_file, int second_writable,
			    int (*action)(ntfs_volume *, ntfs_volume *, const char *), const char *argument)
{
	ntfs_volume *first = volume_open(first_file, 1);
	if (!first)
		return 1;
	ntfs_volume *second = volume_open(second_file, !second_writable);
	int rc = second ? action(first, second, argument) : -1;
	if (second && volume_close(second))
		rc = -1;
	ntfs_umount(first, FALSE);
	return rc ? 1 : 0;
}

static int run_diff(ntfs_volume *base, ntfs_volume *after, const char *changed_ranges)
{
	return capture_diff(base, after, changed_ranges);
}

static int run_copy_paths(ntfs_volume *source, ntfs_volume *target, const char *total_bytes)
{
	return copy_paths(source, target, strtoull(total_bytes, NULL, 10));
}

int main(int argc, char **argv)
{
	const char *command = argc > 1 ? argv[1] : "";
	if (!strcmp(command, "apply") && argc == 3)
		return with_volume(argv[2], 0, run_apply, NULL);
	if (!strcmp(command, "list") && (argc == 3 || argc == 4))
		return with_volume(argv[2], 1, run_list, argc == 4 ? argv[3] : "/");
	if (!strcmp(command, "cat") && argc == 4)
		return with_volume(argv[2], 1, cat_stream, argv[3]);
	if (!strcmp(command, "overlay") && argc == 4)
		return run_overlay(argv[2], argv[3]);
	if (!strcmp(command, "clone") && argc == 4)
		return clone_volume(argv[2], argv[3], 0) ? 1 : 0;
	if (!strcmp(command, "clone") && argc == 5 && !strcmp(argv[2], "--metadata-only"))
		return clone_volume(argv[3], argv[4], 1) ? 1 : 0;
	if (!strcmp(command, "copy-data") && argc == 4)
		return copy_file_data(argv[2], argv[3]) ? 1 : 0;
	if (!strcmp(command, "bitmap") && argc == 4)
		return write_cluster_bitmap(argv[2], argv[3]) ? 1 : 0;
	if (!strcmp(command, "finalize") && argc == 5)
		return volume_finalize(argv[2], strtoull(argv[3], NULL, 16),
				       (uint32_t)strtoul(argv[4], NULL, 10)) ? 1 : 0;
	if (!strcmp(command, "read") && argc == 3)
		return answer_device_reads(argv[2]);
	if (!strcmp(command, "diff") && (argc == 4 || argc == 5))
		return with_two_volumes(argv[2], argv[3], 0, run_diff, argc == 5 ? argv[4] : NULL);
	if (!strcmp(command, "copy-paths") && argc == 5)
		return with_two_volumes(argv[2], argv[3], 1, run_copy_paths, argv[4]);
	fputs(usage, stderr);
	return 2;
}
