#ifndef LAMINA_BACKING_H
#define LAMINA_BACKING_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

/*
 * The volume a mapped device shows through where it was never written: a converted compose
 * builds its image in a work VHDX that starts empty and reads, block by block, as the OS layer's
 * volume until the block is first written (then the block is filled from the OS layer first).
 * The 4 GiB of OS data are then read once, by the conversion, instead of being cloned into the
 * work VHDX and read back out of it.
 *
 * Only the clusters the OS volume's $Bitmap marks in use show through, so the image holds what a
 * clone (which copies those alone) would have put there, and nothing of the free space's old bytes.
 *
 * The file MAPFILE.backing (written by compositor/backed-image.ts) selects it, in four lines:
 *   LMNTBAK1, the cluster size, the bitmap file (the OS volume's $Bitmap as `lamina_ntfs bitmap`
 *   wrote it), and the OS volume's name (as device.h takes it, read-only).
 */
struct backing;

/*
 * The device behind a volume name, not yet opened: device.h's device_for. The backing volume is
 * named as any volume is (the OS layer's is itself a mapped device), so device.c hands its opener
 * down through the mapped device to here, and the units depend one way: device.c, then
 * mapped-device.c, then backing.c.
 */
typedef struct ntfs_device *(*device_opener)(const char *name, int read_only);

/*
 * Loads MAPFILE.backing, whose volume `open_device` opens: 0 with *out NULL when there is none,
 * -1 (errno set) when it is invalid.
 */
int backing_load(const char *map_file, device_opener open_device, struct backing **out);
/* Opens the backing volume for reading; -1 with errno set. */
int backing_open(struct backing *b);
/* Closes (if open) and frees. */
void backing_free(struct backing *b);
/* Whether any in-use cluster of the backing volume lies in [offset, offset + length). */
int backing_has_data(struct backing *b, s64 offset, s64 length);
/* Reads [offset, offset + length) of the backing volume: in-use clusters' bytes, zeros elsewhere. */
int backing_read(struct backing *b, u8 *target, s64 length, s64 offset);

#endif
