#pragma once
// PyTorch checkpoints: legacy (torch < 1.6, formats.md 1) and zip (torch >= 1.6, formats.md
// 2) files, read with the data-only pickle interpreter. load_torch() returns the whole
// saved object as a PyValue tree with every tensor materialised (offset and strides
// honoured). find_state_dict() locates the state dict inside nested checkpoints.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/host_tensor.hpp"
#include "rfcf/io/pickle.hpp"
#include "rfcf/io/py_value.hpp"
#include "rfcf/io/zip.hpp"

namespace rfcf::io {

struct TorchLoadOptions {
  PickleLimits limits;
  bool verify_crc = true;  // zip members
  // Total bytes of all materialised tensors (views may share storages); 0: 4 x file size + 16 MiB.
  uint64_t max_tensor_bytes = 0;
};

namespace detail {

// Storages by key, created from persistent ids ('storage', class, key, location, numel[, view]).
class StorageTable {
 public:
  explicit StorageTable(size_t pid_size) : pid_size_(pid_size) {}

  PyPtr load(const PyValue& pid) {
    using K = PyValue::Kind;
    if (!pid.is(K::Tuple) || pid.items().size() != pid_size_)
      fail<FormatError>("persistent id must be a ", pid_size_, "-tuple");
    const auto& a = pid.items();
    if (!a[0]->is(K::String) || a[0]->as_string() != "storage") fail<FormatError>("persistent id is not a storage");
    DType t;
    if (!a[1]->is(K::Global) || !storage_dtype(a[1]->as_string(), t))
      fail<FormatError>("persistent id names an unknown storage class");
    if (!a[2]->is(K::String) || !a[3]->is(K::String) || !a[4]->is(K::Int))
      fail<FormatError>("persistent id needs (str key, str location, int numel)");
    if (pid_size_ == 6 && !a[5]->is_none()) fail<FormatError>("storage views (view_metadata) are not supported");
    const std::string& key = a[2]->as_string();
    const int64_t numel = a[4]->as_int();
    if (numel < 0) fail<FormatError>("storage '", key, "' has a negative size");
    int64_t bytes;
    if (!mul_ok(numel, static_cast<int64_t>(element_size(t)), bytes)) fail<FormatError>("storage '", key, "' size overflows");
    auto& s = storages_[key];
    if (!s) {
      s = std::make_shared<TorchStorage>();
      s->key = key;
      s->dtype = t;
      s->numel = numel;
      s->location = a[3]->as_string();
    } else if (s->dtype != t || s->numel != numel) {
      fail<FormatError>("storage '", key, "' is referenced with different types or sizes");
    }
    PyPtr v = PyValue::make(K::Storage);
    v->mutable_storage() = s;
    return v;
  }
  std::map<std::string, std::shared_ptr<TorchStorage>>& storages() { return storages_; }

 private:
  size_t pid_size_;
  std::map<std::string, std::shared_ptr<TorchStorage>> storages_;
};

// Copies the elements a tensor views out of its storage into a dense row-major HostTensor.
inline HostTensor materialise(const TorchTensorRef& r, const std::string& where) {
  const TorchStorage& s = *r.storage;
  if (!s.loaded) fail<FormatError>(where, ": storage '", s.key, "' has no data in the file");
  HostTensor t;
  t.dtype = s.dtype;
  t.shape = r.size;
  const int64_t numel = checked_numel(r.size, where);
  const size_t es = element_size(s.dtype);
  t.bytes.resize(static_cast<size_t>(numel) * es);
  if (numel == 0) return t;
  // Contiguous row-major views are one copy; anything else is gathered element by element.
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t i = r.size.size(); i-- > 0;) {
    if (r.size[i] != 1 && r.stride[i] != expect) contiguous = false;
    expect *= r.size[i];
  }
  const uint8_t* base = s.bytes.data();
  if (contiguous) {
    std::memcpy(t.bytes.data(), base + static_cast<size_t>(r.offset) * es, t.bytes.size());
    return t;
  }
  std::vector<int64_t> idx(r.size.size(), 0);
  for (int64_t k = 0; k < numel; ++k) {
    int64_t e = r.offset;
    for (size_t d = 0; d < idx.size(); ++d) e += idx[d] * r.stride[d];
    std::memcpy(t.bytes.data() + static_cast<size_t>(k) * es, base + static_cast<size_t>(e) * es, es);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < r.size[d]) break;
      idx[d] = 0;
    }
  }
  return t;
}

inline void materialise_all(const std::vector<PyPtr>& tensors, const std::string& where, uint64_t file_size,
                            const TorchLoadOptions& o) {
  const uint64_t limit = o.max_tensor_bytes ? o.max_tensor_bytes : 4 * file_size + (16u << 20);
  uint64_t total = 0;
  for (const PyPtr& t : tensors) {
    const TorchTensorRef& r = t->ref();
    total += static_cast<uint64_t>(checked_numel(r.size, where)) * element_size(r.storage->dtype);
    if (total > limit)
      fail<FormatError>(where, ": tensors add up to more than ", limit, " bytes (views of shared storages?)");
    t->mutable_tensor() = std::make_shared<HostTensor>(materialise(r, where));
  }
}

inline bool is_zip(const uint8_t* d, size_t n) { return n >= 4 && std::memcmp(d, "PK\x03\x04", 4) == 0; }

inline PyPtr parse_legacy(const uint8_t* d, size_t n, const std::string& where, const TorchLoadOptions& o) {
  // Pickle 1 is a fixed magic number (a 10-byte LONG1, longer than the interpreter allows).
  static const uint8_t magic[15] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  if (n < 15 || std::memcmp(d, magic, 15) != 0)
    fail<FormatError>(where, ": not a PyTorch file (neither a zip archive nor the legacy magic number)");
  size_t pos = 15;
  auto next = [&](PersistentLoad pl = nullptr) {
    UnpickleResult r = unpickle(d + pos, n - pos, where, pos, o.limits, std::move(pl));
    pos += r.end;
    return r;
  };
  const UnpickleResult version = next();
  if (!version.value->is(PyValue::Kind::Int) || version.value->as_int() != 1001)
    fail<FormatError>(where, ": unsupported legacy protocol version (expected 1001)");
  const UnpickleResult sys_info = next();
  if (!sys_info.value->is_dict()) fail<FormatError>(where, ": legacy sys_info is not a dict");
  if (PyPtr le = sys_info.value->find("little_endian"); le && !(le->is(PyValue::Kind::Bool) && le->as_bool()))
    fail<FormatError>(where, ": big-endian files are not supported");

  StorageTable table(6);
  UnpickleResult main = next([&](const PyValue& pid) { return table.load(pid); });
  const UnpickleResult keys = next();
  if (!keys.value->is(PyValue::Kind::List)) fail<FormatError>(where, ": legacy storage key list is not a list");
  for (const PyPtr& k : keys.value->items()) {
    if (!k->is(PyValue::Kind::String)) fail<FormatError>(where, ": storage key is not a string");
    auto it = table.storages().find(k->as_string());
    if (it == table.storages().end())
      fail<FormatError>(where, ": storage '", k->as_string(), "' at byte ", pos, " is not referenced by any tensor");
    TorchStorage& s = *it->second;
    if (s.loaded) fail<FormatError>(where, ": storage '", s.key, "' appears twice");
    if (n - pos < 8) fail<FormatError>(where, ": storage '", s.key, "' header at byte ", pos, " is truncated");
    const int64_t count = load_le<int64_t>(d + pos);
    if (count != s.numel)
      fail<FormatError>(where, ": storage '", s.key, "' at byte ", pos, " holds ", count, " elements, expected ", s.numel);
    pos += 8;
    const uint64_t bytes = static_cast<uint64_t>(s.numel) * element_size(s.dtype);
    if (bytes > n - pos)
      fail<FormatError>(where, ": storage '", s.key, "' at byte ", pos, " (", bytes, " bytes) runs past the end of the file");
    s.bytes.assign(d + pos, d + pos + bytes);
    s.loaded = true;
    s.file_offset = pos;
    pos += static_cast<size_t>(bytes);
  }
  if (pos != n) fail<FormatError>(where, ": ", n - pos, " unexpected bytes after the last storage (byte ", pos, ")");
  materialise_all(main.tensors, where, n, o);
  return main.value;
}

inline PyPtr parse_zip(const uint8_t* d, size_t n, const std::string& where, const TorchLoadOptions& o) {
  ZipArchive zip(d, n, where);
  if (zip.entries().empty()) fail<FormatError>(where, ": empty zip archive");
  const std::string& first = zip.entries().front().name;
  const auto slash = first.find('/');
  if (slash == std::string::npos) fail<FormatError>(where, ": first zip member '", first, "' has no top directory");
  const std::string prefix = first.substr(0, slash + 1);
  if (const ZipArchive::Entry* bo = zip.find(prefix + "byteorder")) {
    const auto s = zip.read(*bo, o.verify_crc);
    if (std::string(reinterpret_cast<const char*>(s.data), s.size) != "little")
      fail<FormatError>(where, ": only little-endian torch files are supported");
  }
  const ZipArchive::Entry* pkl = zip.find(prefix + "data.pkl");
  if (!pkl) fail<FormatError>(where, ": no member '", prefix, "data.pkl'");
  const auto pk = zip.read(*pkl, o.verify_crc);
  const uint64_t pkl_base = static_cast<uint64_t>(pk.data - d);

  StorageTable table(5);
  UnpickleResult main = unpickle(pk.data, pk.size, where, pkl_base, o.limits,
                                 [&](const PyValue& pid) { return table.load(pid); });
  for (auto& [key, s] : table.storages()) {
    const ZipArchive::Entry* e = zip.find(prefix + "data/" + key);
    if (!e) fail<FormatError>(where, ": storage member '", prefix, "data/", key, "' is missing");
    const auto span = zip.read(*e, o.verify_crc);
    const uint64_t bytes = static_cast<uint64_t>(s->numel) * element_size(s->dtype);
    if (span.size != bytes)
      fail<FormatError>(where, ": storage '", key, "' has ", span.size, " bytes, expected ", bytes);
    s->bytes.assign(span.data, span.data + span.size);
    s->loaded = true;
    s->file_offset = static_cast<uint64_t>(span.data - d);
  }
  materialise_all(main.tensors, where, n, o);
  return main.value;
}

}  // namespace detail

// Parses a PyTorch file held in memory (legacy or zip format).
inline PyPtr parse_torch(const uint8_t* data, size_t size, const std::string& where = "torch file",
                         const TorchLoadOptions& options = {}) {
  if (detail::is_zip(data, size)) return detail::parse_zip(data, size, where, options);
  return detail::parse_legacy(data, size, where, options);
}

// Loads a torch.save() file: the saved object with every tensor materialised.
inline PyPtr load_torch(const std::string& path, const TorchLoadOptions& options = {}) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_torch(bytes.data(), bytes.size(), path, options);
}

// True if v is a non-empty dict whose keys are all strings and values all tensors.
inline bool is_tensor_dict(const PyValue& v) {
  if (!v.is_dict() || v.size() == 0) return false;
  for (const auto& [k, t] : v.entries())
    if (!k->is(PyValue::Kind::String) || !t->is_tensor()) return false;
  return true;
}

// The state dict inside a loaded checkpoint (formats.md 1.2): `key` if given, else the first
// of state_dict, net_state_dict, model, model_state_dict, module that maps strings to
// tensors, else the top level itself. Tensors are copied into a TensorMap in stored order.
inline TensorMap find_state_dict(const PyValue& root, const std::string& key = "") {
  const PyValue* sd = nullptr;
  if (!key.empty()) {
    PyPtr v = root.find(key);
    if (!v) fail<FormatError>("checkpoint has no entry '", key, "'");
    if (!is_tensor_dict(*v)) fail<FormatError>("checkpoint entry '", key, "' is not a dict of tensors");
    sd = v.get();
  } else {
    for (const char* k : {"state_dict", "net_state_dict", "model", "model_state_dict", "module"}) {
      PyPtr v = root.find(k);
      if (v && is_tensor_dict(*v)) {
        sd = v.get();
        break;
      }
    }
    if (!sd && is_tensor_dict(root)) sd = &root;
  }
  if (!sd) {
    std::string keys;
    if (root.is_dict())
      for (const auto& [k, v] : root.entries())
        if (k->is(PyValue::Kind::String)) keys += (keys.empty() ? "" : ", ") + k->as_string();
    fail<FormatError>("no state dict found in a checkpoint of type ", root.type_name(),
                      keys.empty() ? "" : " with keys: ", keys);
  }
  TensorMap m;
  for (const auto& [k, v] : sd->entries()) m.insert_new(k->as_string(), v->tensor());
  return m;
}

// A copy of `m` with `prefix` removed from the names that start with it (e.g. "module.").
inline TensorMap strip_prefix(const TensorMap& m, const std::string& prefix = "module.") {
  TensorMap out;
  for (const auto& [name, t] : m) {
    const bool has = name.compare(0, prefix.size(), prefix) == 0;
    out.insert_new(has ? name.substr(prefix.size()) : name, t);
  }
  return out;
}

}  // namespace rfcf::io
