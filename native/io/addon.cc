// The lamina_io addon: its parts, registered under one module.
#include "io.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitAlignedBuffer(env, exports);
  InitGrainDeflate(env, exports);
  InitFileSpace(env, exports);
  InitDataRanges(env, exports);
  InitPageCache(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lamina_io, Init)
