// File space reserved ahead of direct writes, and given back where nothing was written.
//
// ext4 runs an O_DIRECT write under the inode's exclusive lock, waiting for the device, when the
// write extends the file or lands on blocks not allocated yet; only a write over allocated blocks
// (unwritten extents count) of a file already that long takes the shared lock and runs beside
// others. A conversion's writes all land on fresh space, so its writes in flight ran one at a time.
// fallocate (mode 0: allocate, extend the size, the new blocks read as zeros) makes each of them an
// overwrite. fallocate itself waits for every direct I/O in flight on the file, so the caller
// reserves all it can predict in one call, before its writes start.

#include <fcntl.h>
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io.h"

namespace {

struct Range {
  int64_t offset;
  int64_t length;
};

// fallocate(fd, mode, ...) over each range in turn, on libuv's thread pool; stops at the first error.
class FileSpaceWorker : public Napi::AsyncWorker {
 public:
  FileSpaceWorker(Napi::Env env, int fd, int mode, std::vector<Range> ranges)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        mode_(mode),
        ranges_(std::move(ranges)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    for (const Range& range : ranges_) {
      int result;
      do {
        result = fallocate(fd_, mode_, range.offset, range.length);
      } while (result != 0 && errno == EINTR);
      if (result != 0) {
        error_ = errno;
        return;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_ == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    // Rejected as Node's fs calls are, with `code`: the caller tells EOPNOTSUPP from ENOSPC.
    Napi::Error error = Napi::Error::New(env, std::string("fallocate: ") + std::strerror(error_));
    error.Set("code", Napi::String::New(env, ErrnoCode(error_)));
    deferred_.Reject(error.Value());
  }

 private:
  static std::string ErrnoCode(int error) {
    switch (error) {
      case EOPNOTSUPP: return "EOPNOTSUPP";
      case ENOSYS: return "ENOSYS";
      case ENOSPC: return "ENOSPC";
      case EDQUOT: return "EDQUOT";
      case EFBIG: return "EFBIG";
      case EINVAL: return "EINVAL";
      case EBADF: return "EBADF";
      case ENODEV: return "ENODEV";
      case EPERM: return "EPERM";
      case EIO: return "EIO";
      default: return "E" + std::to_string(error);
    }
  }

  Napi::Promise::Deferred deferred_;
  const int fd_;
  const int mode_;
  const std::vector<Range> ranges_;
  int error_ = 0;
};

// (fd, [offset, length, offset, length, ...]) → Promise<void>
Napi::Value Run(const Napi::CallbackInfo& info, const char* name, int mode) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsArray())
    throw Napi::TypeError::New(env, std::string(name) + "(fd, [offset, length, ...])");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array flat = info[1].As<Napi::Array>();
  if (fd < 0 || flat.Length() % 2 != 0) throw Napi::RangeError::New(env, std::string(name) + ": bad fd or ranges");
  std::vector<Range> ranges;
  ranges.reserve(flat.Length() / 2);
  for (uint32_t i = 0; i < flat.Length(); i += 2) {
    const int64_t offset = flat.Get(i).As<Napi::Number>().Int64Value();
    const int64_t length = flat.Get(i + 1).As<Napi::Number>().Int64Value();
    if (offset < 0 || length <= 0) throw Napi::RangeError::New(env, std::string(name) + ": bad range");
    ranges.push_back({offset, length});
  }
  auto* worker = new FileSpaceWorker(env, fd, mode, std::move(ranges));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value ReserveSpace(const Napi::CallbackInfo& info) { return Run(info, "reserveSpace", 0); }

Napi::Value PunchHoles(const Napi::CallbackInfo& info) {
  return Run(info, "punchHoles", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

}  // namespace

void InitFileSpace(Napi::Env env, Napi::Object exports) {
  exports.Set("reserveSpace", Napi::Function::New(env, ReserveSpace));
  exports.Set("punchHoles", Napi::Function::New(env, PunchHoles));
}
