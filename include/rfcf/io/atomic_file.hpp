#pragma once
// Atomic file replacement: the content goes to "<path>.tmp-<random>" in the same directory,
// is flushed to disk (fsync), then renamed over <path>. Readers see either the old file or
// the complete new one; on any failure the temporary file is removed and <path> is untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::io {

// Buffered writer on a file descriptor, handed to atomic_write callbacks.
class FileWriter {
 public:
  FileWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    if (buffer_.size() + n > kBuffer) flush();
    if (n >= kBuffer) {
      write_all(p, n);
    } else {
      buffer_.insert(buffer_.end(), p, p + n);
    }
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  void flush() {
    write_all(buffer_.data(), buffer_.size());
    buffer_.clear();
  }
  uint64_t bytes_written() const { return written_ + buffer_.size(); }

 private:
  static constexpr size_t kBuffer = 1 << 20;
  void write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) fail<IoError>("cannot write '", path_, "': ", std::strerror(errno));
      p += k;
      n -= static_cast<size_t>(k);
      written_ += static_cast<uint64_t>(k);
    }
  }
  int fd_;
  std::string path_;
  std::vector<uint8_t> buffer_;
  uint64_t written_ = 0;
};

namespace detail {
inline std::string temp_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          (static_cast<uint64_t>(::getpid()) << 32)};
  static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  uint64_t x = rng();
  for (int i = 0; i < 10; ++i, x /= 36) s += digits[x % 36];
  return s;
}
inline std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
}  // namespace detail

// Writes `path` atomically; `produce(FileWriter&)` writes the content. Exceptions thrown by
// `produce` propagate after the temporary file has been removed.
inline void atomic_write(const std::string& path, const std::function<void(FileWriter&)>& produce) {
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    tmp = path + ".tmp-" + detail::temp_suffix();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) fail<IoError>("cannot create '", tmp, "' (to write '", path, "'): ", std::strerror(errno));
  try {
    FileWriter w(fd, path);
    produce(w);
    w.flush();
    if (::fsync(fd) != 0) fail<IoError>("cannot flush '", path, "' to disk: ", std::strerror(errno));
    const int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail<IoError>("cannot close '", tmp, "': ", std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail<IoError>("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable; failure here does not invalidate the written file.
  const int dfd = ::open(detail::parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

inline void atomic_write(const std::string& path, const void* data, size_t n) {
  atomic_write(path, [&](FileWriter& w) { w.write(data, n); });
}
inline void atomic_write(const std::string& path, const std::vector<uint8_t>& bytes) {
  atomic_write(path, bytes.data(), bytes.size());
}
inline void atomic_write(const std::string& path, const std::string& text) {
  atomic_write(path, text.data(), text.size());
}

}  // namespace rfcf::io
