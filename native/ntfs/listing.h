#ifndef LAMINA_LISTING_H
#define LAMINA_LISTING_H
#include "ntfs.h"
/* One JSON line per file or directory: {"path","dir","size"} (size sums all data streams). */
/* JSON lines for every entry under the folder `top` ("/": all); a missing folder has none. */
int list_volume(ntfs_volume *vol, const char *top);
/* Copies one stream ("PATH" or "PATH:STREAM") to stdout. */
int cat_stream(ntfs_volume *vol, const char *path_and_stream);
#endif
