// lamina_io: what disk/ needs from native code. Each part adds its functions to the addon.
#ifndef LAMINA_IO_H
#define LAMINA_IO_H

#include <napi.h>

// alignedBuffer(size), pageSize: page-aligned memory for direct I/O (aligned-buffer.cc).
void InitAlignedBuffer(Napi::Env env, Napi::Object exports);

// deflateGrains(...), grainRecordBound(...): vmdk-stream grains compressed off the main thread
// (grain-deflate.cc).
void InitGrainDeflate(Napi::Env env, Napi::Object exports);

// reserveSpace(fd, ranges), punchHoles(fd, ranges): fallocate on the thread pool, so direct writes to
// fresh space run side by side (file-space.cc).
void InitFileSpace(Napi::Env env, Napi::Object exports);

// dataRanges(fd, end): where a sparse file holds data, by lseek SEEK_DATA/SEEK_HOLE (data-ranges.cc).
void InitDataRanges(Napi::Env env, Napi::Object exports);

// residentBytes(fd, size): how much of a file the page cache holds, by cachestat or mincore;
// writeBehind(fd, offset, length, drop): a written range's writeback started, or waited for and its
// pages dropped, by sync_file_range and posix_fadvise; copyFileRanges(fdIn, fdOut, steps,
// pages): ranges copied from file to file inside the kernel (splice through a pipe), and pages
// written between them, in one job; zeroRanges(fd, ranges): which of a file's ranges are all zeros,
// in one job (page-cache.cc).
void InitPageCache(Napi::Env env, Napi::Object exports);

#endif
