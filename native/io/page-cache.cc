// How much of a file the page cache holds. Conversions and hashes read a file past the cache unless
// most of it is cached already (disk/file-io.ts); asking util-linux's fincore meant starting a
// process, 0.12-0.19 s on a busy machine before the first read of every conversion and every hash.
// cachestat (Linux 6.5) answers from the cache's own index in one call; where it is missing,
// mincore over a read-only mapping, a window at a time, looks at every page (60-80 ms for an 8 GiB
// file on a busy machine).
//
// Written data leaves the cache the same way it came: writeBehind starts the writeback of a range
// just written (sync_file_range WRITE), and, called again for an older range, waits for its
// writeback and drops its pages (POSIX_FADV_DONTNEED), so a conversion's output neither fills the
// cache nor waits for one big flush at the end (disk/write-behind.ts).
//
// copyFileRanges moves bytes from one file to another inside the kernel (splice through a pipe), for
// a conversion whose source is in the page cache: one copy, page cache to page cache, where a read
// into a buffer and a write from it made two (disk/file-io.ts OutputFile.copyFrom).

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <napi.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io.h"

namespace {

// Mapped and asked about at most this much at a time: a 2 TiB sparse disk needs no 512 MiB vector.
constexpr int64_t kWindow = int64_t{1} << 30;

// cachestat(2)'s number and structures, which older system headers lack; the number is the same on
// every architecture.
constexpr long kCachestat = 451;
struct CachestatRange {
  uint64_t offset;
  uint64_t length;
};
struct Cachestat {
  uint64_t cache;
  uint64_t dirty;
  uint64_t writeback;
  uint64_t evicted;
  uint64_t recentlyEvicted;
};

// The errno names the JavaScript side tells apart (Node's fs errors carry the same `code`); others
// as E and their number.
std::string ErrnoName(int error) {
  switch (error) {
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case ESPIPE: return "ESPIPE";
    case EXDEV: return "EXDEV";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EBADF: return "EBADF";
    case EISDIR: return "EISDIR";
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    default: return "E" + std::to_string(error);
  }
}

// Rejects as Node's fs calls do, with `code`: the caller tells ENOSYS (no such call) from EIO, and a
// file that ends early (ESHORT) from both.
void RejectWithCode(const Napi::Promise::Deferred& deferred, const std::string& message,
                    const std::string& code) {
  Napi::Error error = Napi::Error::New(deferred.Env(), message);
  error.Set("code", Napi::String::New(deferred.Env(), code));
  deferred.Reject(error.Value());
}

// residentBytes(fd, size): bytes of the file's first `size` bytes in the page cache, on the thread pool.
class ResidentWorker : public Napi::AsyncWorker {
 public:
  ResidentWorker(Napi::Env env, int fd, int64_t size)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), size_(size) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int64_t page = sysconf(_SC_PAGESIZE);
    if (size_ == 0) return;
    CachestatRange range{0, static_cast<uint64_t>(size_)};
    Cachestat stat{};
    if (syscall(kCachestat, fd_, &range, &stat, 0) == 0) {
      resident_ = std::min<int64_t>(static_cast<int64_t>(stat.cache) * page, size_);
      return;
    }
    // An older kernel, or a sandbox that refuses the call: ask page by page.
    std::vector<unsigned char> pages;
    for (int64_t at = 0; at < size_; at += kWindow) {
      const size_t length = static_cast<size_t>(std::min(kWindow, size_ - at));
      void* map = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_, at);
      if (map == MAP_FAILED) {
        error_ = errno;
        return;
      }
      pages.resize((length + page - 1) / page);
      const int result = mincore(map, length, pages.data());
      const int mincoreError = errno;
      munmap(map, length);
      if (result != 0) {
        error_ = mincoreError;
        return;
      }
      for (size_t i = 0; i < pages.size(); i++) {
        if (pages[i] & 1) resident_ += std::min<int64_t>(page, size_ - at - static_cast<int64_t>(i) * page);
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_ == 0) {
      deferred_.Resolve(Napi::Number::New(env, static_cast<double>(resident_)));
      return;
    }
    Napi::Error error = Napi::Error::New(env, std::string("mincore: ") + std::strerror(error_));
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  const int fd_;
  const int64_t size_;
  int64_t resident_ = 0;
  int error_ = 0;
};

Napi::Value ResidentBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "residentBytes(fd, size)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t size = info[1].As<Napi::Number>().Int64Value();
  if (fd < 0 || size < 0) throw Napi::RangeError::New(env, "residentBytes: bad fd or size");
  auto* worker = new ResidentWorker(env, fd, size);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// writeBehind(fd, offset, length, drop): on the thread pool, starts writing the range back (drop
// false), or writes it back, waits for it and drops its pages from the cache (drop true).
class WriteBehindWorker : public Napi::AsyncWorker {
 public:
  WriteBehindWorker(Napi::Env env, int fd, int64_t offset, int64_t length, bool drop)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        offset_(offset),
        length_(length),
        drop_(drop) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const unsigned flags = drop_ ? SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
                                 : SYNC_FILE_RANGE_WRITE;
    int result;
    do {
      result = sync_file_range(fd_, offset_, length_, flags);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      error_ = errno;
      call_ = "sync_file_range";
      return;
    }
    if (!drop_) return;
    // posix_fadvise returns the error instead of setting errno.
    result = posix_fadvise(fd_, offset_, length_, POSIX_FADV_DONTNEED);
    if (result != 0) {
      error_ = result;
      call_ = "posix_fadvise";
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_ == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    RejectWithCode(deferred_, std::string(call_) + ": " + std::strerror(error_), ErrnoName(error_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  const int fd_;
  const int64_t offset_;
  const int64_t length_;
  const bool drop_;
  int error_ = 0;
  const char* call_ = "";
};

Napi::Value WriteBehind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsBoolean())
    throw Napi::TypeError::New(env, "writeBehind(fd, offset, length, drop)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t offset = info[1].As<Napi::Number>().Int64Value();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  if (fd < 0 || offset < 0 || length < 0) throw Napi::RangeError::New(env, "writeBehind: bad fd, offset or length");
  auto* worker = new WriteBehindWorker(env, fd, offset, length, info[3].As<Napi::Boolean>().Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// copyFileRanges(fdIn, fdOut, steps, pages): on the thread pool, one step after the other; `steps`
// holds triples (offsetIn, offsetOut, length): `length` bytes of fdIn at offsetIn spliced to fdOut at
// offsetOut, or, for offsetIn -1 - i, the Buffer pages[i] written at offsetOut (length: its length).
// One job for a whole chunk: a VHD chunk is eight blocks, each with the page of its sector bitmap
// before it. Resolves once every step is done; rejects with `code` at the first error (EINVAL: a
// file splice refuses), or with code ESHORT where the source file ends before a range does.
//
// The bytes go through a pipe of 1 MiB (splice in, splice out): the pipe holds references to the
// source's cached pages, and the write copies from them into the output's, one copy where pread and
// pwrite make two. copy_file_range does the same through the kernel's own pipe of 64 KiB, and each
// write of 64 KiB filled the output's cache with 64 KiB folios, which made its writeback and
// dropping (disk/write-behind.ts) cost twice as much: 2 GiB in 32 MiB pieces to VHD, warm, took
// 1.2-1.7 s of CPU through copy_file_range against 1.0-1.1 s through this pipe (1.4-1.7 s by pread
// and pwrite).
constexpr int kPipeBytes = 1 << 20;

class CopyRangesWorker : public Napi::AsyncWorker {
 public:
  struct Page {
    const uint8_t* data;
    size_t length;
  };

  CopyRangesWorker(Napi::Env env, int fdIn, int fdOut, std::vector<double> steps, std::vector<Page> pages,
                   Napi::Array pageRefs)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fdIn_(fdIn),
        fdOut_(fdOut),
        steps_(std::move(steps)),
        pages_(std::move(pages)),
        pageRefs_(Napi::Persistent(pageRefs)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) != 0) {
      Fail("pipe2", errno);
      return;
    }
    // Smaller where the system's pipe-max-size is: then the pipe keeps its 64 KiB.
    int pipeBytes = fcntl(pipeFds[1], F_SETPIPE_SZ, kPipeBytes);
    if (pipeBytes <= 0) pipeBytes = fcntl(pipeFds[1], F_GETPIPE_SZ);
    if (pipeBytes <= 0) pipeBytes = 65536;
    for (size_t i = 0; i + 2 < steps_.size() && error_ == 0 && shortAt_ < 0; i += 3) {
      const int64_t in = static_cast<int64_t>(steps_[i]);
      const loff_t out = static_cast<loff_t>(steps_[i + 1]);
      if (in < 0)
        WritePage(pages_[static_cast<size_t>(-1 - in)], out);
      else
        SpliceRange(pipeFds, pipeBytes, in, out, static_cast<int64_t>(steps_[i + 2]));
    }
    close(pipeFds[0]);
    close(pipeFds[1]);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_ == 0 && shortAt_ < 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    if (shortAt_ >= 0)
      RejectWithCode(deferred_, "splice: the source file ends at byte " + std::to_string(shortAt_), "ESHORT");
    else
      RejectWithCode(deferred_, std::string(call_) + ": " + std::strerror(error_), ErrnoName(error_));
  }

 private:
  void Fail(const char* call, int error) {
    call_ = call;
    error_ = error;
  }

  void WritePage(const Page& page, loff_t out) {
    for (size_t done = 0; done < page.length;) {
      const ssize_t n = pwrite(fdOut_, page.data + done, page.length - done, out + static_cast<loff_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail("pwrite", n < 0 ? errno : EIO);
      done += static_cast<size_t>(n);
    }
  }

  void SpliceRange(const int pipeFds[2], int pipeBytes, loff_t from, loff_t to, int64_t length) {
    for (int64_t left = length; left > 0;) {
      const ssize_t in = splice(fdIn_, &from, pipeFds[1], nullptr,
                                static_cast<size_t>(std::min<int64_t>(left, pipeBytes)), SPLICE_F_MOVE);
      if (in < 0 && errno == EINTR) continue;
      if (in < 0) return Fail("splice", errno);
      if (in == 0) {
        shortAt_ = from;
        return;
      }
      for (ssize_t moved = 0; moved < in;) {
        const ssize_t n = splice(pipeFds[0], nullptr, fdOut_, &to, static_cast<size_t>(in - moved), SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Fail("splice", n < 0 ? errno : EIO);
        moved += n;
      }
      left -= in;
    }
  }

  Napi::Promise::Deferred deferred_;
  const int fdIn_;
  const int fdOut_;
  const std::vector<double> steps_;
  const std::vector<Page> pages_;
  // Keeps the pages' Buffers alive while the job runs.
  Napi::Reference<Napi::Array> pageRefs_;
  int error_ = 0;
  const char* call_ = "";
  int64_t shortAt_ = -1;
};

Napi::Value CopyFileRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsTypedArray() ||
      !info[3].IsArray())
    throw Napi::TypeError::New(env, "copyFileRanges(fdIn, fdOut, steps: Float64Array, pages: Buffer[])");
  const int fdIn = info[0].As<Napi::Number>().Int32Value();
  const int fdOut = info[1].As<Napi::Number>().Int32Value();
  Napi::TypedArray typed = info[2].As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_float64_array || typed.ElementLength() % 3 != 0)
    throw Napi::TypeError::New(env, "copyFileRanges: steps must be a Float64Array of triples");
  Napi::Float64Array stepsArray = info[2].As<Napi::Float64Array>();
  std::vector<double> steps(stepsArray.Data(), stepsArray.Data() + stepsArray.ElementLength());
  Napi::Array pageArray = info[3].As<Napi::Array>();
  std::vector<CopyRangesWorker::Page> pages;
  for (uint32_t i = 0; i < pageArray.Length(); i++) {
    Napi::Value value = pageArray.Get(i);
    if (!value.IsBuffer()) throw Napi::TypeError::New(env, "copyFileRanges: pages must be Buffers");
    Napi::Buffer<uint8_t> page = value.As<Napi::Buffer<uint8_t>>();
    pages.push_back({page.Data(), page.Length()});
  }
  if (fdIn < 0 || fdOut < 0) throw Napi::RangeError::New(env, "copyFileRanges: bad fd");
  for (size_t i = 0; i < steps.size(); i += 3) {
    const double in = steps[i];
    if (steps[i + 1] < 0 || steps[i + 2] < 0 || (in < 0 && -1 - in >= static_cast<double>(pages.size())))
      throw Napi::RangeError::New(env, "copyFileRanges: bad step");
  }
  auto* worker = new CopyRangesWorker(env, fdIn, fdOut, std::move(steps), std::move(pages), pageArray);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// zeroRanges(fd, ranges): on the thread pool, whether each of the file's ranges (a Float64Array of
// pairs offset, length) holds only zero bytes: a Uint8Array of 1 (all zeros) or 0. Each range's
// first 4 KiB are read first and the rest, 1 MiB at a time, only while all is zeros: one byte not
// zero in the first page answers for random data and most file system blocks. One job for all the
// new blocks of a chunk (a VMDK chunk is 256 grains): one read each through Node's fs cost 0.4 s of
// CPU for 2 GiB. Rejects with `code` where a read fails (EISDIR, ...) or the file ends early (ESHORT).
class ZeroRangesWorker : public Napi::AsyncWorker {
 public:
  ZeroRangesWorker(Napi::Env env, int fd, std::vector<double> ranges)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), ranges_(std::move(ranges)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    constexpr int64_t kFirst = 4096;
    constexpr int64_t kScan = int64_t{1} << 20;
    std::vector<uint8_t> buffer(static_cast<size_t>(kScan));
    zero_.assign(ranges_.size() / 2, 1);
    for (size_t r = 0; r < zero_.size(); r++) {
      const int64_t offset = static_cast<int64_t>(ranges_[r * 2]);
      const int64_t length = static_cast<int64_t>(ranges_[r * 2 + 1]);
      for (int64_t done = 0; done < length && zero_[r];) {
        const int64_t want = std::min(done == 0 ? kFirst : kScan, length - done);
        const ssize_t n = pread(fd_, buffer.data(), static_cast<size_t>(want), offset + done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          error_ = errno;
          return;
        }
        if (n == 0) {
          error_ = -1;
          return;
        }
        const uint8_t* data = buffer.data();
        if (data[0] != 0 || (n > 1 && std::memcmp(data, data + 1, static_cast<size_t>(n - 1)) != 0)) zero_[r] = 0;
        done += n;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_ == 0) {
      Napi::Uint8Array flags = Napi::Uint8Array::New(env, zero_.size());
      std::memcpy(flags.Data(), zero_.data(), zero_.size());
      deferred_.Resolve(flags);
      return;
    }
    if (error_ < 0)
      RejectWithCode(deferred_, "pread: the file ends early", "ESHORT");
    else
      RejectWithCode(deferred_, std::string("pread: ") + std::strerror(error_), ErrnoName(error_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  const int fd_;
  const std::vector<double> ranges_;
  std::vector<uint8_t> zero_;
  int error_ = 0;
};

Napi::Value ZeroRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw Napi::TypeError::New(env, "zeroRanges(fd, ranges: Float64Array)");
  const int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Float64Array array = info[1].As<Napi::Float64Array>();
  if (fd < 0 || array.ElementLength() % 2 != 0) throw Napi::RangeError::New(env, "zeroRanges: bad fd or ranges");
  std::vector<double> ranges(array.Data(), array.Data() + array.ElementLength());
  for (double value : ranges) {
    if (value < 0) throw Napi::RangeError::New(env, "zeroRanges: bad range");
  }
  auto* worker = new ZeroRangesWorker(env, fd, std::move(ranges));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitPageCache(Napi::Env env, Napi::Object exports) {
  exports.Set("residentBytes", Napi::Function::New(env, ResidentBytes));
  exports.Set("writeBehind", Napi::Function::New(env, WriteBehind));
  exports.Set("copyFileRanges", Napi::Function::New(env, CopyFileRanges));
  exports.Set("zeroRanges", Napi::Function::New(env, ZeroRanges));
}
