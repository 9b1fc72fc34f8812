#include "device.h"
#include "fail.h"
#include "volume.h"

ntfs_volume *volume_open(const char *partition_file, int read_only)
{
	struct ntfs_device *dev = device_for(partition_file, read_only);
	ntfs_volume *vol = dev ? ntfs_device_mount(dev, read_only ? NTFS_MNT_RDONLY : NTFS_MNT_NONE) : NULL;
	if (dev && !vol) {
		int error = errno;
		ntfs_device_free(dev);
		errno = error;
	}
	if (!vol) {
		fail("%s: not a usable NTFS volume (%s)", partition_file, strerror(errno));
		return NULL;
	}
	/*
	 * A volume being written resolves paths as Windows does: \windows\WIN.INI is
	 * \Windows\win.ini, and replaces it. Not a volume only read: with ignore-case on,
	 * libntfs-3g lists names in lower case, and listings must keep each name's own case.
	 */
	if (!read_only && ntfs_set_ignore_case(vol)) {
		fail("%s: cannot switch to case-insensitive lookups (%s)", partition_file, strerror(errno));
		ntfs_umount(vol, TRUE);
		return NULL;
	}
	return vol;
}

int volume_close(ntfs_volume *vol)
{
	if (ntfs_umount(vol, FALSE)) {
		fail("could not close the volume cleanly (%s)", strerror(errno));
		return -1;
	}
	return 0;
}

#define SECTOR 512
#define HIDDEN_SECTORS_OFFSET 0x1c
#define SERIAL_OFFSET 0x48

/* Patches the boot sector and writes it to both places Windows reads it from. */
static int write_boot_fields(const char *partition_file, uint64_t serial, uint32_t start_sector)
{
	unsigned char boot[SECTOR];
	struct ntfs_device *dev = device_open_writable(partition_file);
	if (!dev)
		return -1;
	struct stat st;
	int ok = dev->d_ops->stat(dev, &st) == 0 && st.st_size >= 2 * SECTOR &&
		 dev->d_ops->pread(dev, boot, SECTOR, 0) == SECTOR;
	if (ok) {
		for (int i = 0; i < 8; i++)
			boot[SERIAL_OFFSET + i] = (unsigned char)(serial >> (8 * i));
		for (int i = 0; i < 4; i++)
			boot[HIDDEN_SECTORS_OFFSET + i] = (unsigned char)(start_sector >> (8 * i));
		ok = dev->d_ops->pwrite(dev, boot, SECTOR, 0) == SECTOR &&
		     dev->d_ops->pwrite(dev, boot, SECTOR, st.st_size - SECTOR) == SECTOR;
	}
	if (device_close(dev))
		ok = 0;
	return ok ? 0 : -1;
}

int volume_finalize(const char *partition_file, uint64_t serial, uint32_t start_sector)
{
	ntfs_volume *vol = volume_open(partition_file, 0);
	if (!vol)
		return -1;
	if ((vol->flags & VOLUME_IS_DIRTY) &&
	    ntfs_volume_write_flags(vol, vol->flags & ~VOLUME_IS_DIRTY)) {
		fail("could not clear the dirty flag (%s)", strerror(errno));
		ntfs_umount(vol, TRUE);
		return -1;
	}
	if (volume_close(vol))
		return -1;
	if (write_boot_fields(partition_file, serial, start_sector)) {
		fail("%s: could not write the boot sector (%s)", partition_file, strerror(errno));
		return -1;
	}
	return 0;
}
