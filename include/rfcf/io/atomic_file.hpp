#pragma once
// Atomic file output: data goes to a temporary file in the destination's directory, is
// flushed to disk and then renamed over the destination. Readers therefore see either the
// old file or the complete new one, never a partial write; a failed write leaves no file.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "rfcf/core/error.hpp"

namespace rfcf::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    static std::atomic<uint64_t> counter{0};
    tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    check<IoError>(fd_ >= 0, "cannot create '", tmp_, "' (for '", path_, "'): ", std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Not committed: the temporary file is removed and the destination is untouched.
  ~AtomicFile() { abandon(); }

  const std::string& path() const { return path_; }
  uint64_t size() const { return written_; }

  void write(const void* data, size_t n) {
    check<IoError>(fd_ >= 0, "write to '", path_, "' after commit or failure");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        int e = errno;
        abandon();
        fail<IoError>("cannot write '", path_, "': ", std::strerror(e));
      }
      p += k;
      n -= static_cast<size_t>(k);
      written_ += static_cast<uint64_t>(k);
    }
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // Overwrites bytes already written (e.g. a header whose content is known only at the end).
  void write_at(uint64_t offset, const void* data, size_t n) {
    check<IoError>(fd_ >= 0, "write to '", path_, "' after commit or failure");
    check<IoError>(offset + n <= written_, "write_at past the written part of '", path_, "'");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        int e = errno;
        abandon();
        fail<IoError>("cannot write '", path_, "': ", std::strerror(e));
      }
      p += k;
      n -= static_cast<size_t>(k);
      offset += static_cast<uint64_t>(k);
    }
  }

  // fsync + rename over the destination.
  void commit() {
    check<IoError>(fd_ >= 0, "commit of '", path_, "' after commit or failure");
    bool ok = ::fsync(fd_) == 0;
    int e = errno;
    ok = (::close(fd_) == 0) && ok;
    fd_ = -1;
    if (!ok) {
      std::remove(tmp_.c_str());
      fail<IoError>("cannot flush '", path_, "': ", std::strerror(e));
    }
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
      e = errno;
      std::remove(tmp_.c_str());
      fail<IoError>("cannot rename '", tmp_, "' to '", path_, "': ", std::strerror(e));
    }
    committed_ = true;
  }

 private:
  void abandon() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!committed_) std::remove(tmp_.c_str());
  }

  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

// Writes all of `bytes` to `path` atomically.
inline void atomic_write(const std::string& path, const void* data, size_t n) {
  AtomicFile f(path);
  f.write(data, n);
  f.commit();
}
inline void atomic_write(const std::string& path, std::string_view bytes) {
  atomic_write(path, bytes.data(), bytes.size());
}

}  // namespace rfcf::io
