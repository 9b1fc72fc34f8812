// Page-aligned Buffers for direct I/O. With O_DIRECT the kernel moves data straight between the
// caller's memory and the device, so that memory must be aligned to the device's block size;
// Node's own Buffers carry no alignment guarantee (a 4 MiB one sits 16 bytes past a page).

#include <napi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "io.h"

namespace {

// alignedBuffer(size): a Buffer of `size` bytes whose first byte is page-aligned.
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "alignedBuffer(size)");
  const int64_t size = info[0].As<Napi::Number>().Int64Value();
  if (size <= 0 || size > (int64_t{1} << 30)) throw Napi::RangeError::New(env, "alignedBuffer: size out of range");
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* data = nullptr;
  if (posix_memalign(&data, page, static_cast<size_t>(size)) != 0) throw Napi::Error::New(env, "alignedBuffer: out of memory");
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(data), static_cast<size_t>(size),
                                    [](Napi::Env, uint8_t* p) { std::free(p); });
}

}  // namespace

void InitAlignedBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBuffer));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
}
