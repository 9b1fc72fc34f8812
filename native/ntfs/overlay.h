#ifndef LAMINA_OVERLAY_H
#define LAMINA_OVERLAY_H
#include "ntfs.h"
/* Writes every file of `layer` over `image`: files replace, directories merge. */
int overlay_volume(ntfs_volume *layer, ntfs_volume *image);
#endif
