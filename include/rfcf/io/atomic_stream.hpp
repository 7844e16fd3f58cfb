#pragma once
// AtomicFile: the streaming counterpart of atomic_write (rfcf/io/atomic_file.hpp) for output
// produced piece by piece over a long time (RecordIO packing) and for headers patched at the
// end. Same guarantee: a temporary file in the destination's directory, fsync, rename on
// commit(); destroyed without commit() it removes the temporary file and leaves the
// destination untouched.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "rfcf/core/error.hpp"
#include "rfcf/io/atomic_file.hpp"

namespace rfcf::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
      tmp_ = path_ + ".tmp-" + detail::temp_suffix();
      fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    check<IoError>(fd_ >= 0, "cannot create '", tmp_, "' (to write '", path_, "'): ", std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() { abandon(); }

  const std::string& path() const { return path_; }
  uint64_t size() const { return written_; }

  void write(const void* data, size_t n) {
    check<IoError>(fd_ >= 0, "write to '", path_, "' after commit or failure");
    put(data, n, written_, "write");
    written_ += n;
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // Overwrites bytes already written (a header whose content is known only at the end).
  void write_at(uint64_t offset, const void* data, size_t n) {
    check<IoError>(fd_ >= 0, "write to '", path_, "' after commit or failure");
    check<IoError>(offset + n <= written_, "write_at past the written part of '", path_, "'");
    put(data, n, offset, "write_at");
  }

  // fsync, then rename over the destination.
  void commit() {
    check<IoError>(fd_ >= 0, "commit of '", path_, "' after commit or failure");
    int e = ::fsync(fd_) == 0 ? 0 : errno;
    if (::close(fd_) != 0 && e == 0) e = errno;
    fd_ = -1;
    if (e == 0 && std::rename(tmp_.c_str(), path_.c_str()) != 0) e = errno;
    if (e != 0) {
      ::unlink(tmp_.c_str());
      fail<IoError>("cannot write '", path_, "': ", std::strerror(e));
    }
    committed_ = true;
  }

 private:
  void put(const void* data, size_t n, uint64_t offset, const char* what) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t k = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        int e = errno;
        abandon();
        fail<IoError>("cannot ", what, " '", path_, "': ", std::strerror(e));
      }
      p += k;
      n -= static_cast<size_t>(k);
      offset += static_cast<uint64_t>(k);
    }
  }
  void abandon() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
  }

  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

}  // namespace rfcf::io
