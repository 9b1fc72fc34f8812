#ifndef LAMINA_APPLY_H
#define LAMINA_APPLY_H
#include "ntfs.h"
int apply_operations(ntfs_volume *vol);
#endif
