#ifndef LAMINA_VOLUME_H
#define LAMINA_VOLUME_H
#include "ntfs.h"

/* Mounts the NTFS file system in a partition image file (not a whole disk). */
ntfs_volume *volume_open(const char *partition_file, int read_only);
int volume_close(ntfs_volume *vol);

/*
 * Leaves a volume ready for Windows and reproducible: clears the dirty flag (ntfsresize sets it
 * to ask for a chkdsk we do not need) and sets the serial number in the boot sector and in its
 * backup in the partition's last sector.
 */
int volume_finalize(const char *partition_file, uint64_t serial);

#endif
