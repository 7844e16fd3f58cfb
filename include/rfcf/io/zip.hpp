#pragma once
// Read-only zip reader for archives held in memory, as torch >= 1.6 writes them
// (formats.md 2): central directory (sizes are only valid there; local headers carry
// zeros and a data descriptor), ZIP64 records, stored (uncompressed) members only, CRC-32
// verification. Member names are only compared, never used as paths.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/file_bytes.hpp"

namespace rfcf::io {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint64_t local_offset = 0;  // of the local header
    uint64_t size = 0;          // uncompressed == compressed for stored members
    uint64_t compressed_size = 0;
    uint32_t crc = 0;
    uint16_t method = 0;
    uint16_t flags = 0;
  };
  // A member's bytes inside the archive buffer.
  struct Span {
    const uint8_t* data;
    size_t size;
  };

  // Parses the central directory of the archive in data[0, size) (not copied: the buffer
  // must outlive the archive). `where` names the file in error messages.
  ZipArchive(const uint8_t* data, size_t size, std::string where = "zip")
      : p_(data), n_(size), where_(std::move(where)) {
    parse_directory();
  }

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // Bytes of a stored member, bounds- and (optionally) CRC-checked.
  Span read(const Entry& e, bool verify_crc = true) const {
    if (e.method != 0)
      fail<FormatError>(where_, ": member '", e.name, "' is compressed (method ", e.method,
                        "); only stored members are supported");
    if (e.compressed_size != e.size)
      fail<FormatError>(where_, ": stored member '", e.name, "' has different compressed and uncompressed sizes");
    const uint64_t h = e.local_offset;
    need(h, 30, "local header of '" + e.name + "'");
    if (u32(h) != 0x04034b50u) fail<FormatError>(where_, ": no local header signature at byte ", h, " for '", e.name, "'");
    const uint16_t name_len = u16(h + 26), extra_len = u16(h + 28);
    need(h + 30, name_len, "member name");
    if (std::string(reinterpret_cast<const char*>(p_ + h + 30), name_len) != e.name)
      fail<FormatError>(where_, ": local header at byte ", h, " names a different member than '", e.name, "'");
    const uint64_t start = h + 30 + name_len + extra_len;
    need(start, e.size, "data of '" + e.name + "'");
    Span s{p_ + start, static_cast<size_t>(e.size)};
    if (verify_crc) {
      uLong crc = crc32(0L, Z_NULL, 0);
      const uint8_t* q = s.data;
      size_t left = s.size;
      while (left > 0) {  // zlib takes 32-bit lengths
        const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
        crc = crc32(crc, q, chunk);
        q += chunk;
        left -= chunk;
      }
      if (static_cast<uint32_t>(crc) != e.crc)
        fail<FormatError>(where_, ": CRC-32 mismatch in member '", e.name, "'");
    }
    return s;
  }
  Span read(const std::string& name, bool verify_crc = true) const {
    const Entry* e = find(name);
    if (!e) fail<FormatError>(where_, ": no member '", name, "'");
    return read(*e, verify_crc);
  }

 private:
  void need(uint64_t off, uint64_t len, const std::string& what) const {
    if (off > n_ || len > n_ - off)
      fail<FormatError>(where_, ": ", what, " at byte ", off, " (", len, " bytes) runs past the end of the ",
                        n_, "-byte file");
  }
  uint16_t u16(uint64_t off) const { return detail::load_le<uint16_t>(p_ + off); }
  uint32_t u32(uint64_t off) const { return detail::load_le<uint32_t>(p_ + off); }
  uint64_t u64(uint64_t off) const { return detail::load_le<uint64_t>(p_ + off); }

  void parse_directory() {
    if (n_ < 22) fail<FormatError>(where_, ": too short for a zip archive");
    // End of central directory: the last signature within the final 22 + 65535 bytes.
    uint64_t eocd = n_;
    const uint64_t lowest = n_ > 22 + 65535 ? n_ - 22 - 65535 : 0;
    for (uint64_t i = n_ - 22 + 1; i-- > lowest;)
      if (u32(i) == 0x06054b50u) {
        eocd = i;
        break;
      }
    if (eocd == n_) fail<FormatError>(where_, ": no zip end-of-central-directory record");
    uint64_t count = u16(eocd + 10);
    uint64_t cd_size = u32(eocd + 12);
    uint64_t cd_offset = u32(eocd + 16);
    if (u16(eocd + 4) != 0 || u16(eocd + 6) != 0) fail<FormatError>(where_, ": multi-disk archives are not supported");
    // ZIP64: a locator right before the classic record points at the ZIP64 record.
    if (eocd >= 20 && u32(eocd - 20) == 0x07064b50u) {
      const uint64_t z = u64(eocd - 20 + 8);
      need(z, 56, "ZIP64 end-of-central-directory record");
      if (u32(z) != 0x06064b50u) fail<FormatError>(where_, ": bad ZIP64 end-of-central-directory signature at byte ", z);
      count = u64(z + 32);
      cd_size = u64(z + 40);
      cd_offset = u64(z + 48);
    } else if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
      fail<FormatError>(where_, ": ZIP64 fields without a ZIP64 locator");
    }
    need(cd_offset, cd_size, "central directory");
    if (count > cd_size / 46) fail<FormatError>(where_, ": central directory of ", cd_size, " bytes cannot hold ", count, " entries");
    entries_.reserve(static_cast<size_t>(count));
    uint64_t pos = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    for (uint64_t i = 0; i < count; ++i) {
      if (pos > cd_end || cd_end - pos < 46) fail<FormatError>(where_, ": central directory entry ", i, " is truncated");
      if (u32(pos) != 0x02014b50u) fail<FormatError>(where_, ": bad central directory signature at byte ", pos);
      Entry e;
      e.flags = u16(pos + 8);
      e.method = u16(pos + 10);
      e.crc = u32(pos + 16);
      e.compressed_size = u32(pos + 20);
      e.size = u32(pos + 24);
      const uint16_t name_len = u16(pos + 28), extra_len = u16(pos + 30), comment_len = u16(pos + 32);
      e.local_offset = u32(pos + 42);
      const uint64_t var = pos + 46;
      if (cd_end - var < uint64_t(name_len) + extra_len + comment_len)
        fail<FormatError>(where_, ": central directory entry ", i, " is truncated");
      e.name.assign(reinterpret_cast<const char*>(p_ + var), name_len);
      if (e.flags & 1u) fail<FormatError>(where_, ": member '", e.name, "' is encrypted");
      read_zip64_extra(e, var + name_len, extra_len);
      if (!index_.emplace(e.name, entries_.size()).second)
        fail<FormatError>(where_, ": duplicate member '", e.name, "'");
      entries_.push_back(std::move(e));
      pos = var + name_len + extra_len + comment_len;
    }
  }

  // The ZIP64 extended-information extra field replaces the 32-bit fields set to 0xFFFFFFFF.
  void read_zip64_extra(Entry& e, uint64_t off, uint64_t len) {
    const uint64_t end = off + len;
    while (end - off >= 4) {
      const uint16_t id = u16(off), sz = u16(off + 2);
      if (sz > end - off - 4) fail<FormatError>(where_, ": extra field of '", e.name, "' is truncated");
      if (id == 0x0001) {
        uint64_t q = off + 4;
        const uint64_t qend = q + sz;
        auto take = [&](uint64_t& field) {
          if (qend - q < 8) fail<FormatError>(where_, ": ZIP64 extra field of '", e.name, "' is truncated");
          field = u64(q);
          q += 8;
        };
        if (e.size == 0xFFFFFFFFu) take(e.size);
        if (e.compressed_size == 0xFFFFFFFFu) take(e.compressed_size);
        if (e.local_offset == 0xFFFFFFFFu) take(e.local_offset);
      }
      off += 4 + uint64_t(sz);
    }
  }

  const uint8_t* p_;
  size_t n_;
  std::string where_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace rfcf::io
