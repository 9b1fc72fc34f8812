// Page-aligned Buffers for direct I/O. With O_DIRECT the kernel moves data straight between the
// caller's memory and the device, so that memory must be aligned to the device's block size;
// Node's own Buffers carry no alignment guarantee (a 4 MiB one sits 16 bytes past a page).
//
// Buffers of 2 MiB and more are 2 MiB aligned and asked to be backed by transparent huge pages
// (madvise MADV_HUGEPAGE; the kernel falls back to small pages where it has none): a direct read
// is cut into requests of at most max_segments pieces of contiguous memory, 254 on this VM's virtio
// disk, so into 4 KiB pages it made requests of 1016 KiB, into 2 MiB pages requests of the disk's
// full 4 MiB (max_sectors_kb): a quarter of the requests for the same bytes. A huge page is also
// one fault where small pages are 512.

#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "io.h"

namespace {

constexpr int64_t kHugePage = int64_t{2} << 20;

// alignedBuffer(size): a Buffer of `size` bytes whose first byte is page-aligned (2 MiB-aligned from 2 MiB).
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "alignedBuffer(size)");
  const int64_t size = info[0].As<Napi::Number>().Int64Value();
  if (size <= 0 || size > (int64_t{1} << 30)) throw Napi::RangeError::New(env, "alignedBuffer: size out of range");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const bool huge = size >= kHugePage;
  void* data = nullptr;
  if (posix_memalign(&data, huge ? kHugePage : page, static_cast<size_t>(size)) != 0)
    throw Napi::Error::New(env, "alignedBuffer: out of memory");
  if (huge) madvise(data, static_cast<size_t>(size), MADV_HUGEPAGE);  // a hint: small pages if refused
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(data), static_cast<size_t>(size),
                                    [](Napi::Env, uint8_t* p) { std::free(p); });
}

}  // namespace

void InitAlignedBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
}
