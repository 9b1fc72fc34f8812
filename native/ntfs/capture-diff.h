#ifndef LAMINA_CAPTURE_DIFF_H
#define LAMINA_CAPTURE_DIFF_H
#include "ntfs.h"

/*
 * `lamina_ntfs diff BASE AFTER [CHANGED]`: what changed from the volume BASE to the volume AFTER (the same
 * volume later: a packaging machine's boot volume after the admin installed), by MFT record.
 * Prints one JSON line per change on stdout:
 *   {"change":"added"|"changed"|"deleted","path":"/Program Files/App/a.exe","dir":false,"size":N}
 * "size" is the bytes of all data streams (AFTER's; BASE's for deletions).
 * The last line counts the MFT records compared of all there are: {"compared":N,"records":M}.
 *
 * Records are compared whole, minus what changes without the file changing: the record's log
 * sequence number and update sequence array, and the last access time and USN of
 * $STANDARD_INFORMATION. A file whose record is the same is the same file: writing a file
 * changes its modification time and, growing or moving, its runs, all in the record.
 *
 * CHANGED, when AFTER's disk is a child of BASE's, names a file of the volume byte ranges the child
 * holds itself (little-endian u64 offset and length pairs, ascending): only the MFT records in
 * those clusters are read and compared, the rest are BASE's own bytes. Where the MFT lies
 * elsewhere in AFTER than in BASE, every record is compared anyway.
 */
int capture_diff(ntfs_volume *base, ntfs_volume *after, const char *changed_file);

#endif
