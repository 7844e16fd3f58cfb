#pragma once
// Reading whole files into memory (checkpoints are at most a few hundred MB) and
// little-endian integer loads from byte buffers.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::io {

// The whole content of a file; IoError if it cannot be opened or read.
inline std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail<IoError>("cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> data;
  uint8_t buf[1 << 16];
  for (;;) {
    const size_t got = std::fread(buf, 1, sizeof(buf), f);
    data.insert(data.end(), buf, buf + got);
    if (got < sizeof(buf)) break;
  }
  const bool error = std::ferror(f) != 0;
  std::fclose(f);
  if (error) fail<IoError>("error while reading '", path, "'");
  return data;
}

namespace detail {
template <class T>
inline T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
}  // namespace detail

}  // namespace rfcf::io
