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

/*
 * Copies every data range of the sparse `file` (zeros included) to the same offsets of `target`,
 * writing only the pages that differ: a grown volume's metadata is mostly what the target holds
 * already, and a target that reads through to a backing volume (backing.h) copies a block into
 * itself at its first write.
 */
int copy_file_data(const char *file, const char *target);

/*
 * Writes the cluster bitmap of the volume `source` ($Bitmap: one bit per cluster, in use = 1;
 * none past the last cluster) to `file`, and {"clusterSize":N,"clusters":N} to stdout.
 */
int write_cluster_bitmap(const char *source, const char *file);
#endif
