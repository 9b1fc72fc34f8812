#ifndef LAMINA_CLONE_H
#define LAMINA_CLONE_H
/*
 * Copies the allocated clusters of the NTFS volume `source` (a partition image file, or a served
 * volume) to the same offsets of `target` (a partition image file at least as big, or a mapped
 * volume; see device.h). Free clusters and all-zero clusters are never written, so the target
 * stays sparse: the cost is the data, not the volume. With `metadata_only`, ordinary files' data
 * is left out: what remains is what ntfsresize needs to grow the volume.
 */
int clone_volume(const char *source, const char *target, int metadata_only);

/* Copies every data range of the sparse `file` (zeros included) to the same offsets of `target`. */
int copy_file_data(const char *file, const char *target);
#endif
