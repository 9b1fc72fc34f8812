#ifndef LAMINA_CAPTURE_DIFF_H
#define LAMINA_CAPTURE_DIFF_H
#include "ntfs.h"

/*
 * `lamina_ntfs diff BASE AFTER`: what changed from the volume BASE to the volume AFTER (the same
 * volume later: a packaging machine's boot volume after the admin installed), by MFT record.
 * Prints one JSON line per change on stdout:
 *   {"change":"added"|"changed"|"deleted","path":"/Program Files/App/a.exe","dir":false,"size":N}
 * "size" is the bytes of all data streams (AFTER's; BASE's for deletions).
 *
 * Records are compared whole, minus what changes without the file changing: the record's log
 * sequence number and update sequence array, and the last access time and USN of
 * $STANDARD_INFORMATION. A file whose record is the same is the same file: writing a file
 * changes its modification time and, growing or moving, its runs, all in the record.
 */
int capture_diff(ntfs_volume *base, ntfs_volume *after);

#endif
