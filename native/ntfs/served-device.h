#ifndef LAMINA_SERVED_DEVICE_H
#define LAMINA_SERVED_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

/*
 * A read-only libntfs-3g device whose bytes the parent process serves over a socket: the core
 * reads a layer's NTFS volume straight out of its VHDX (through disk/ in TypeScript) instead of
 * from an extracted copy. Volume names of the form "served:FD:SIZE" select it.
 *
 * Protocol on FD: the core sends {u64 offset, u64 length} (little-endian), the parent answers
 * with exactly `length` bytes; one request at a time.
 */
#define SERVED_PREFIX "served:"

struct ntfs_device *served_device_open(const char *spec);

#endif
