#ifndef LAMINA_FILE_READ_H
#define LAMINA_FILE_READ_H
#include "ntfs.h"

/* Reads `length` bytes at `at` from `fd` (zeros past the end of the file); -1 with errno set. */
int read_file_at(int fd, u8 *target, s64 length, u64 at);

#endif
