#ifndef LAMINA_CAPTURE_COPY_H
#define LAMINA_CAPTURE_COPY_H
#include "ntfs.h"

/*
 * `lamina_ntfs copy-paths SOURCE TARGET TOTAL_BYTES`: copies the entries named on stdin from the
 * volume SOURCE into the volume TARGET at the same paths, one per line, parents before children:
 *   dir PATH     a directory: created with SOURCE's security descriptor, attributes and times
 *                (merged into one TARGET has, which keeps its own)
 *   file PATH    a file with all its streams, security descriptor, attributes, times and
 *                reparse point (replacing one TARGET has)
 * How a capture writes the changed files of a packaging machine's volume into a layer volume.
 * TOTAL_BYTES is what progress counts to.
 */
int copy_paths(ntfs_volume *source, ntfs_volume *target, uint64_t total_bytes);

#endif
