#ifndef LAMINA_VOLUME_H
#define LAMINA_VOLUME_H
#include "ntfs.h"

/*
 * Mounts the NTFS file system in a partition image file (not a whole disk), or, read-only, one
 * served by the parent process ("served:FD:SIZE", see served-device.h).
 */
ntfs_volume *volume_open(const char *partition_file, int read_only);
int volume_close(ntfs_volume *vol);

/*
 * Leaves a volume ready for Windows and reproducible: clears the dirty flag (ntfsresize sets it
 * to ask for a chkdsk we do not need), sets the serial number and the partition's start sector
 * ("hidden sectors", which the boot code uses to find the volume: a cloned volume may land
 * elsewhere than it was made) in the boot sector and its backup in the partition's last sector.
 */
int volume_finalize(const char *partition_file, uint64_t serial, uint32_t start_sector);

#endif
