#ifndef LAMINA_CLONE_H
#define LAMINA_CLONE_H
/*
 * Copies the allocated clusters of the NTFS volume `source` (a partition image file, or a served
 * volume) to the same offsets in `target` (an existing, sparse file of at least the same size). Free clusters and all-zero
 * clusters are never written, so the target stays sparse: the cost is the data, not the volume.
 */
int clone_volume(const char *source, const char *target);
#endif
