#pragma once
// safetensors reader and writer (formats.md section 3). The reader validates everything
// before it trusts it: header size, JSON syntax, duplicate keys, dtype, shape/byte-size
// agreement (overflow-checked) and that the tensors' byte ranges tile the buffer exactly.
// The writer pads the header to a multiple of 8, writes tensors in sorted key order back to
// back, stores metadata as strings, and replaces the file atomically.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rfcf/core/error.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/dtype.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/host_tensor.hpp"

namespace rfcf::io {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsFile {
  TensorMap tensors;  // in the order of their data offsets
  Metadata metadata;  // "__metadata__", empty if absent
};

struct SafetensorsLimits {
  uint64_t max_header_bytes = 100ull * 1000 * 1000;  // as in the reference library
  int max_rank = 8;
};

namespace detail {

inline bool safetensors_dtype(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> known[] = {
      {"BOOL", DType::Bool}, {"U8", DType::U8},   {"I8", DType::I8},     {"I16", DType::I16},
      {"I32", DType::I32},   {"I64", DType::I64}, {"F16", DType::F16},   {"BF16", DType::BF16},
      {"F32", DType::F32},   {"F64", DType::F64}};
  for (auto& [name, t] : known)
    if (s == name) {
      out = t;
      return true;
    }
  return false;
}

inline bool json_uint(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// Parses the JSON header; duplicate keys in any object and nesting deeper than the format
// needs are errors (caught while parsing, before the document is built).
inline nlohmann::json parse_header_json(const char* begin, const char* end, const std::string& where) {
  std::vector<std::set<std::string>> keys;
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > 4) fail<FormatError>(where, ": header JSON is nested too deeply");
    if (ev == E::object_start) keys.emplace_back();
    else if (ev == E::object_end && !keys.empty()) keys.pop_back();
    else if (ev == E::key && !keys.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second) fail<FormatError>(where, ": duplicate key '", k, "' in header");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(begin, end, cb, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>(where, ": header is not valid JSON: ", e.what());
  }
}

}  // namespace detail

// Parses a complete safetensors file held in memory. `where` names it in error messages.
inline SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& where = "safetensors",
                                         const SafetensorsLimits& limits = {}) {
  check<FormatError>(size >= 8, where, ": file of ", size, " bytes is too short for a safetensors header");
  const uint64_t n = detail::load_le<uint64_t>(data);
  check<FormatError>(n <= limits.max_header_bytes, where, ": header length ", n, " exceeds the limit of ",
                     limits.max_header_bytes, " bytes");
  check<FormatError>(n <= size - 8, where, ": header length ", n, " runs past the end of the ", size, "-byte file");
  check<FormatError>(n >= 2 && data[8] == '{', where, ": header must be a JSON object starting with '{' (offset 8)");
  const char* hb = reinterpret_cast<const char*>(data + 8);
  const nlohmann::json header = detail::parse_header_json(hb, hb + n, where);
  check<FormatError>(header.is_object(), where, ": header is not a JSON object");

  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_size = size - 8 - n;

  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  SafetensorsFile out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      check<FormatError>(v.is_object(), where, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        check<FormatError>(m.value().is_string(), where, ": __metadata__ value of '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string what = where + ": tensor '" + name + "'";
    check<FormatError>(v.is_object(), what, ": entry is not an object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    check<FormatError>(dt != v.end() && sh != v.end() && off != v.end(), what,
                       ": entry needs 'dtype', 'shape' and 'data_offsets'");
    check<FormatError>(dt->is_string(), what, ": dtype is not a string");
    Entry e;
    e.name = name;
    const std::string dname = dt->get<std::string>();
    if (!detail::safetensors_dtype(dname, e.dtype)) {
      static const std::set<std::string> unsupported = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
      if (unsupported.count(dname)) fail<FormatError>(what, ": dtype ", dname, " is not supported by rfcf");
      fail<FormatError>(what, ": unknown dtype '", dname, "'");
    }
    check<FormatError>(sh->is_array(), what, ": shape is not an array");
    check<FormatError>(static_cast<int>(sh->size()) <= limits.max_rank, what, ": rank ", sh->size(),
                       " exceeds the limit of ", limits.max_rank);
    for (const auto& d : *sh) {
      uint64_t u;
      check<FormatError>(detail::json_uint(d, u) && u <= static_cast<uint64_t>(INT64_MAX), what,
                         ": shape entries must be non-negative integers");
      e.shape.push_back(static_cast<int64_t>(u));
    }
    check<FormatError>(off->is_array() && off->size() == 2, what, ": data_offsets must be [begin, end]");
    check<FormatError>(detail::json_uint((*off)[0], e.begin) && detail::json_uint((*off)[1], e.end), what,
                       ": data_offsets must be non-negative integers");
    check<FormatError>(e.begin <= e.end, what, ": data_offsets [", e.begin, ", ", e.end, "] are reversed");
    check<FormatError>(e.end <= buffer_size, what, ": data_offsets end ", e.end, " is past the ", buffer_size,
                       "-byte buffer");
    const int64_t numel = checked_numel(e.shape, what);
    int64_t nbytes = 0;
    check<FormatError>(detail::mul_ok(numel, static_cast<int64_t>(element_size(e.dtype)), nbytes), what,
                       ": byte size overflows");
    check<FormatError>(static_cast<uint64_t>(nbytes) == e.end - e.begin, what, ": shape ", shape_str(e.shape),
                       " of ", dname, " needs ", nbytes, " bytes but data_offsets [", e.begin, ", ", e.end,
                       ") hold ", e.end - e.begin);
    entries.push_back(std::move(e));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (const Entry& e : entries) {
    check<FormatError>(e.begin == pos, where, ": tensor '", e.name, "' starts at buffer offset ", e.begin,
                       " but the previous tensor ends at ", pos, " (byte ranges must tile the buffer)");
    pos = e.end;
  }
  check<FormatError>(pos == buffer_size, where, ": tensors end at buffer offset ", pos, " but the buffer has ",
                     buffer_size, " bytes");

  for (Entry& e : entries) {
    HostTensor t;
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    t.bytes.assign(buffer + e.begin, buffer + e.end);
    out.tensors.insert_new(e.name, std::move(t));
  }
  return out;
}

inline SafetensorsFile read_safetensors_file(const std::string& path, const SafetensorsLimits& limits = {}) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_safetensors(bytes.data(), bytes.size(), path, limits);
}

// Tensors only (metadata dropped); see read_safetensors_file for both.
inline TensorMap read_safetensors(const std::string& path, Metadata* metadata = nullptr) {
  SafetensorsFile f = read_safetensors_file(path);
  if (metadata) *metadata = std::move(f.metadata);
  return std::move(f.tensors);
}

// The complete file content: 8-byte length, space-padded header, tensors in sorted key order.
inline std::vector<uint8_t> serialize_safetensors(const TensorMap& tensors, const Metadata& metadata = {}) {
  std::vector<const std::pair<std::string, HostTensor>*> sorted;
  for (const auto& kv : tensors) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (auto* kv : sorted) {
    const HostTensor& t = kv->second;
    check<Error>(kv->first != "__metadata__", "safetensors: '__metadata__' cannot be a tensor name");
    const int64_t numel = checked_numel(t.shape, "safetensors tensor '" + kv->first + "'");
    check<Error>(static_cast<uint64_t>(numel) * element_size(t.dtype) == t.bytes.size(), "safetensors: tensor '",
                 kv->first, "' of shape ", shape_str(t.shape), " and dtype ", dtype_name(t.dtype), " holds ",
                 t.bytes.size(), " bytes");
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = dtype_name(t.dtype);
    e["shape"] = t.shape;
    e["data_offsets"] = {offset, offset + t.bytes.size()};
    header[kv->first] = std::move(e);
    offset += t.bytes.size();
  }
  if (!metadata.empty()) {  // after the tensors, as the Python library writes it
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::string h;
  try {
    h = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail<Error>("safetensors: cannot encode the header (tensor names and metadata must be UTF-8): ", e.what());
  }
  h.append((8 - (8 + h.size()) % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + h.size());
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  out.reserve(out.size() + offset);
  for (auto* kv : sorted) out.insert(out.end(), kv->second.bytes.begin(), kv->second.bytes.end());
  return out;
}

// Writes a safetensors file atomically (temporary file + fsync + rename).
inline void write_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {}) {
  atomic_write(path, serialize_safetensors(tensors, metadata));
}

}  // namespace rfcf::io
