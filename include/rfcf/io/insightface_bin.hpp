#pragma once
// insightface verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin; formats.md 5): a pickle of
// (bins, issame_list). Images are encoded files (JPEG), either Python-2 byte strings or numpy
// uint8 arrays; images 2k and 2k+1 form pair k.
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/pickle.hpp"

namespace rfcf::io {

struct VerificationBin {
  std::vector<std::string> images;  // encoded image files, 2 per pair
  std::vector<bool> issame;         // one per pair
  size_t pairs() const { return issame.size(); }
};

inline VerificationBin parse_verification_bin(const uint8_t* data, size_t size, const std::string& where = "verification .bin",
                                              const PickleLimits& limits = {}) {
  using K = PyValue::Kind;
  const UnpickleResult r = unpickle(data, size, where, 0, limits);
  if (r.end != size) fail<FormatError>(where, ": ", size - r.end, " unexpected bytes after the pickle");
  const PyValue& top = *r.value;
  if (!top.is_sequence() || top.items().size() != 2)
    fail<FormatError>(where, ": expected a pair (bins, issame_list), found a ", top.type_name());
  const PyValue& bins = *top.items()[0];
  const PyValue& same = *top.items()[1];
  if (!bins.is_sequence() || !same.is_sequence()) fail<FormatError>(where, ": bins and issame_list must be lists");
  VerificationBin out;
  out.images.reserve(bins.items().size());
  for (size_t i = 0; i < bins.items().size(); ++i) {
    const PyValue& b = *bins.items()[i];
    if (b.is(K::Bytes)) {
      out.images.push_back(b.as_bytes());
    } else if (b.is(K::Array)) {
      const HostTensor& t = b.tensor();
      if (t.dtype != DType::U8) fail<FormatError>(where, ": image ", i, " is an array of ", dtype_name(t.dtype), ", not uint8");
      out.images.emplace_back(t.bytes.begin(), t.bytes.end());
    } else {
      fail<FormatError>(where, ": image ", i, " is a ", b.type_name(), ", not bytes or a uint8 array");
    }
  }
  for (size_t i = 0; i < same.items().size(); ++i) {
    const PyValue& s = *same.items()[i];
    if (s.is(K::Bool)) out.issame.push_back(s.as_bool());
    else if (s.is(K::Int) && (s.as_int() == 0 || s.as_int() == 1)) out.issame.push_back(s.as_int() == 1);
    else fail<FormatError>(where, ": issame entry ", i, " is a ", s.type_name(), ", not a bool");
  }
  if (out.images.size() != 2 * out.issame.size())
    fail<FormatError>(where, ": ", out.images.size(), " images for ", out.issame.size(), " pairs (expected 2 per pair)");
  return out;
}

inline VerificationBin read_verification_bin(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_verification_bin(bytes.data(), bytes.size(), path);
}

}  // namespace rfcf::io
