// VMDK streamOptimized grains, compressed on libuv's thread pool. A conversion to vmdk-stream
// spent most of its CPU around the compression itself when it ran in JavaScript workers: a
// fresh batch buffer per job (each page a fault on a VM whose host reclaims idle memory), zlib's
// output gathered from 16 KiB chunks, markers and padding concatenated. Here each grain is
// deflated straight into its place in a caller-owned output buffer that the caller reuses.

#include <napi.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io.h"

namespace {

constexpr size_t kSector = 512;
constexpr size_t kMarkerBytes = 12;  // u64 LBA, u32 compressed size
constexpr size_t kProbeBytes = 4096;

size_t RoundUpToSector(size_t n) { return (n + kSector - 1) / kSector * kSector; }

// Shannon entropy of the sample in bits per byte: random or already compressed data is near 8.
double Entropy(const uint8_t* sample, size_t length) {
  uint32_t counts[256] = {0};
  for (size_t i = 0; i < length; i++) counts[sample[i]]++;
  double bits = 0;
  for (uint32_t count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / static_cast<double>(length);
    bits -= p * std::log2(p);
  }
  return bits;
}

// One zlib stream per level, reset for every grain instead of allocated again.
class Deflater {
 public:
  explicit Deflater(int level) { ok_ = deflateInit(&stream_, level) == Z_OK; }
  ~Deflater() {
    if (ok_) deflateEnd(&stream_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses `length` bytes into `out` (at least `Bound(length)` bytes); the compressed size, or -1.
  long Compress(const uint8_t* data, size_t length, uint8_t* out, size_t room) {
    if (!ok_ || deflateReset(&stream_) != Z_OK) return -1;
    stream_.next_in = const_cast<Bytef*>(data);
    stream_.avail_in = static_cast<uInt>(length);
    stream_.next_out = out;
    stream_.avail_out = static_cast<uInt>(room);
    if (deflate(&stream_, Z_FINISH) != Z_STREAM_END) return -1;
    return static_cast<long>(stream_.total_out);
  }

  size_t Bound(size_t length) { return ok_ ? deflateBound(&stream_, static_cast<uLong>(length)) : 0; }

 private:
  z_stream stream_{};
  bool ok_ = false;
};

size_t GrainRecordBound(size_t grain_bytes, int level) {
  Deflater stored(0), chosen(level);
  return RoundUpToSector(kMarkerBytes + std::max(stored.Bound(grain_bytes), chosen.Bound(grain_bytes)));
}

bool DeflateGrains(const uint8_t* input, size_t grain_bytes, const std::vector<uint64_t>& lbas, int level,
                   uint8_t* output, size_t output_bytes, std::vector<uint32_t>* offsets, size_t* length,
                   std::string* error) {
  // zlib ends up storing incompressible data anyway, after a futile match search that costs most
  // of its time. The byte entropy of the grain's first 4 KiB spots such data (random, or already
  // compressed: 7.9+ bits per byte; binaries and text sit well below) and stores it at once.
  Deflater stored(0), chosen(level);
  size_t at = 0;
  for (size_t i = 0; i < lbas.size(); i++) {
    const uint8_t* grain = input + i * grain_bytes;
    const bool incompressible = Entropy(grain, std::min(kProbeBytes, grain_bytes)) > 7.8;
    Deflater& deflater = incompressible ? stored : chosen;
    if (at + kMarkerBytes >= output_bytes) {
      *error = "output buffer too small";
      return false;
    }
    const long size = deflater.Compress(grain, grain_bytes, output + at + kMarkerBytes, output_bytes - at - kMarkerBytes);
    if (size < 0) {
      *error = "deflate failed (output buffer too small?)";
      return false;
    }
    uint8_t* marker = output + at;
    for (int b = 0; b < 8; b++) marker[b] = static_cast<uint8_t>(lbas[i] >> (8 * b));
    for (int b = 0; b < 4; b++) marker[8 + b] = static_cast<uint8_t>(static_cast<uint64_t>(size) >> (8 * b));
    const size_t end = at + kMarkerBytes + static_cast<size_t>(size);
    const size_t padded = RoundUpToSector(end - at) + at;
    if (padded > output_bytes) {
      *error = "output buffer too small";
      return false;
    }
    std::memset(output + end, 0, padded - end);  // the buffer is reused: padding must be zeroed
    offsets->push_back(static_cast<uint32_t>(at));
    at = padded;
  }
  *length = at;
  return true;
}

// deflateGrains(input, grainBytes, lbas, level, output) → Promise<{ length, offsets }>
class DeflateGrainsWorker : public Napi::AsyncWorker {
 public:
  DeflateGrainsWorker(Napi::Env env, Napi::Buffer<uint8_t> input, size_t grain_bytes, std::vector<uint64_t> lbas,
                      int level, Napi::Buffer<uint8_t> output)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        input_ref_(Napi::Persistent(input)),
        output_ref_(Napi::Persistent(output)),
        input_(input.Data()),
        input_bytes_(input.Length()),
        output_(output.Data()),
        output_bytes_(output.Length()),
        grain_bytes_(grain_bytes),
        lbas_(std::move(lbas)),
        level_(level) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (lbas_.size() * grain_bytes_ > input_bytes_) return SetError("deflateGrains: input shorter than its grains");
    std::string error;
    if (!DeflateGrains(input_, grain_bytes_, lbas_, level_, output_, output_bytes_, &offsets_, &length_, &error))
      SetError("deflateGrains: " + error);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array offsets = Napi::Array::New(env, offsets_.size());
    for (size_t i = 0; i < offsets_.size(); i++) offsets.Set(i, Napi::Number::New(env, offsets_[i]));
    Napi::Object result = Napi::Object::New(env);
    result.Set("length", Napi::Number::New(env, static_cast<double>(length_)));
    result.Set("offsets", offsets);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  // Held so the buffers outlive the work on the thread pool.
  Napi::Reference<Napi::Buffer<uint8_t>> input_ref_, output_ref_;
  const uint8_t* input_;
  size_t input_bytes_;
  uint8_t* output_;
  size_t output_bytes_;
  size_t grain_bytes_;
  std::vector<uint64_t> lbas_;
  int level_;
  std::vector<uint32_t> offsets_;
  size_t length_ = 0;
};

Napi::Value DeflateGrainsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsArray() ||
      !info[3].IsNumber() || !info[4].IsBuffer())
    throw Napi::TypeError::New(env, "deflateGrains(input, grainBytes, lbas, level, output)");
  const int64_t grain_bytes = info[1].As<Napi::Number>().Int64Value();
  const int32_t level = info[3].As<Napi::Number>().Int32Value();
  if (grain_bytes <= 0 || grain_bytes > (int64_t{1} << 24)) throw Napi::RangeError::New(env, "deflateGrains: bad grain size");
  if (level < 0 || level > 9) throw Napi::RangeError::New(env, "deflateGrains: level must be 0-9");
  Napi::Array array = info[2].As<Napi::Array>();
  std::vector<uint64_t> lbas(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) lbas[i] = static_cast<uint64_t>(array.Get(i).As<Napi::Number>().Int64Value());
  auto* worker = new DeflateGrainsWorker(env, info[0].As<Napi::Buffer<uint8_t>>(), static_cast<size_t>(grain_bytes),
                                         std::move(lbas), level, info[4].As<Napi::Buffer<uint8_t>>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value GrainRecordBoundSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "grainRecordBound(grainBytes, level)");
  return Napi::Number::New(env, static_cast<double>(GrainRecordBound(
                                    static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()),
                                    info[1].As<Napi::Number>().Int32Value())));
}

}  // namespace

void InitGrainDeflate(Napi::Env env, Napi::Object exports) {
  exports.Set("deflateGrains", Napi::Function::New(env, DeflateGrainsAsync));
  exports.Set("grainRecordBound", Napi::Function::New(env, GrainRecordBoundSync));
}
