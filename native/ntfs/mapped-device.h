#ifndef LAMINA_MAPPED_DEVICE_H
#define LAMINA_MAPPED_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>
#include "backing.h"

/*
 * A read-write libntfs-3g device that is a window of a block-mapped disk file being written (a
 * dynamic VHDX, say): the image's NTFS volume goes straight into the output container, with no
 * partition image in between. Volume names "mapped:MAPFILE" select it.
 *
 * MAPFILE, shared with disk/'s block-mapped writers (disk/shared-block-map.ts), says where the
 * volume sits on the disk and where each block of the disk lives in the file. A block's first
 * write allocates it at the file's end: its data at the first 4 KiB boundary at least `prefix`
 * bytes (what the format keeps before each block) past `next free`;
 * a block never written reads as zeros; all-zero writes to it are dropped, so the file stays
 * compact. The map is saved back when the device closes. Little-endian u64 fields:
 *
 *   0 magic "LMNTMAP1"   8 block size   16 prefix   24 next free   32 volume offset
 *   40 volume size       48 block count 56 path length, then the disk file's path,
 *   zero-padded to 8 bytes, then one u64 per block: the file offset of its data, 0 = none.
 */
#define MAPPED_PREFIX "mapped:"

/* `open_backing` opens the volume named in MAPFILE.backing, if there is one (backing.h). */
struct ntfs_device *mapped_device_open(const char *spec, device_opener open_backing);

#endif
