/*
 * The one include for libntfs-3g. Its headers use struct timespec, off_t and friends without
 * including them; pulling the system headers in first avoids redefinitions.
 */
#ifndef LAMINA_NTFS_H
#define LAMINA_NTFS_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/layout.h>
#include <ntfs-3g/volume.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/security.h>
#include <ntfs-3g/reparse.h>
#include <ntfs-3g/bitmap.h>
#include <ntfs-3g/logging.h>

#endif
