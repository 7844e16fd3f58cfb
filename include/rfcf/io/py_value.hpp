#pragma once
// PyValue: the data a safe pickle load produces — None, bool, int, float, str, bytes,
// list, tuple, dict (ordered; OrderedDict flagged), set, tensors (torch) and numpy arrays.
// Values form a DAG (the memo lets one value appear in several places) and never a cycle:
// the interpreter seals a container once it is placed inside another one.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/dtype.hpp"
#include "rfcf/io/host_tensor.hpp"

namespace rfcf::io {

class PyValue;
using PyPtr = std::shared_ptr<PyValue>;

// A torch storage referenced by a persistent id: its element type, size and (once the
// loader has read it) its bytes. Several tensors may view one storage.
struct TorchStorage {
  std::string key;       // storage key in the file ('94222903605392' or '0', '1', ...)
  DType dtype = DType::F32;
  int64_t numel = 0;     // elements
  std::string location;  // 'cpu', 'cuda:0' (informational only)
  std::vector<uint8_t> bytes;
  bool loaded = false;
  uint64_t file_offset = 0;  // absolute offset of the first data byte in the file
};

// A tensor as the pickle describes it: a strided view of a storage.
struct TorchTensorRef {
  std::shared_ptr<TorchStorage> storage;
  int64_t offset = 0;  // elements
  std::vector<int64_t> size, stride;
  bool requires_grad = false;
};

class PyValue {
 public:
  enum class Kind {
    None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Set,
    Tensor,   // torch tensor: ref() is the view, tensor() the materialised data
    Array,    // numpy ndarray: tensor() holds dtype, shape and bytes
    // Internal values that only exist while unpickling (and may remain inside odd files):
    Global, Storage, NumpyDType,
  };

  explicit PyValue(Kind k) : kind_(k) {}

  static PyPtr none() { return std::make_shared<PyValue>(Kind::None); }
  static PyPtr boolean(bool b) { auto v = std::make_shared<PyValue>(Kind::Bool); v->int_ = b; return v; }
  static PyPtr integer(int64_t i) { auto v = std::make_shared<PyValue>(Kind::Int); v->int_ = i; return v; }
  static PyPtr real(double d) { auto v = std::make_shared<PyValue>(Kind::Float); v->real_ = d; return v; }
  static PyPtr string(std::string s) { auto v = std::make_shared<PyValue>(Kind::String); v->text_ = std::move(s); return v; }
  static PyPtr bytes(std::string s) { auto v = std::make_shared<PyValue>(Kind::Bytes); v->text_ = std::move(s); return v; }
  static PyPtr global(std::string dotted) { auto v = std::make_shared<PyValue>(Kind::Global); v->text_ = std::move(dotted); return v; }

  Kind kind() const { return kind_; }
  const char* type_name() const {
    switch (kind_) {
      case Kind::None: return "None";
      case Kind::Bool: return "bool";
      case Kind::Int: return "int";
      case Kind::Float: return "float";
      case Kind::String: return "str";
      case Kind::Bytes: return "bytes";
      case Kind::List: return "list";
      case Kind::Tuple: return "tuple";
      case Kind::Dict: return ordered_ ? "OrderedDict" : "dict";
      case Kind::Set: return "set";
      case Kind::Tensor: return "torch.Tensor";
      case Kind::Array: return "numpy.ndarray";
      case Kind::Global: return "global";
      case Kind::Storage: return "torch storage";
      case Kind::NumpyDType: return "numpy.dtype";
    }
    return "?";
  }
  bool is(Kind k) const { return kind_ == k; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_sequence() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_tensor() const { return kind_ == Kind::Tensor || kind_ == Kind::Array; }
  bool is_ordered_dict() const { return kind_ == Kind::Dict && ordered_; }

  bool as_bool() const { expect(Kind::Bool); return int_ != 0; }
  int64_t as_int() const {
    if (kind_ == Kind::Bool) return int_;
    expect(Kind::Int);
    return int_;
  }
  double as_double() const {
    if (kind_ == Kind::Int || kind_ == Kind::Bool) return static_cast<double>(int_);
    expect(Kind::Float);
    return real_;
  }
  // str (UTF-8), bytes (raw), a global's "module.name" or a numpy dtype code.
  const std::string& as_string() const {
    if (kind_ != Kind::Bytes && kind_ != Kind::Global && kind_ != Kind::NumpyDType) expect(Kind::String);
    return text_;
  }
  const std::string& as_bytes() const { expect(Kind::Bytes); return text_; }

  // Items of a list, tuple or set.
  const std::vector<PyPtr>& items() const {
    if (kind_ != Kind::List && kind_ != Kind::Tuple && kind_ != Kind::Set) expect(Kind::List);
    return items_;
  }
  // (key, value) pairs of a dict in insertion order.
  const std::vector<std::pair<PyPtr, PyPtr>>& entries() const { expect(Kind::Dict); return entries_; }
  size_t size() const { return kind_ == Kind::Dict ? entries_.size() : items_.size(); }
  // Dict lookup by str or int key; nullptr if absent (or if this is not a dict).
  PyPtr find(const std::string& key) const { return lookup(key_of_string(key)); }
  PyPtr find(int64_t key) const { return lookup(key_of_int(key)); }
  const PyValue& at(const std::string& key) const {
    PyPtr v = find(key);
    if (!v) fail<Error>("no key '", key, "' in ", type_name());
    return *v;
  }
  // Attributes set by BUILD on an OrderedDict (e.g. '_metadata'); nullptr if none.
  const PyPtr& attributes() const { return attributes_; }

  // Materialised tensor data (torch tensors after loading, numpy arrays).
  const HostTensor& tensor() const {
    if (!is_tensor() || !tensor_) fail<FormatError>(type_name(), " holds no tensor data");
    return *tensor_;
  }
  const TorchTensorRef& ref() const { expect(Kind::Tensor); return *ref_; }
  const TorchStorage& storage() const { expect(Kind::Storage); return *storage_; }

  // --- construction (used by the unpickler and the torch loader) ---
  static PyPtr make(Kind k) { return std::make_shared<PyValue>(k); }
  std::vector<PyPtr>& mutable_items() { return items_; }
  bool set_item(PyPtr key, PyPtr value) {  // false if the key type is not hashable here
    std::string k;
    if (!hash_key(*key, k)) return false;
    auto it = index_.find(k);
    if (it != index_.end()) {
      entries_[it->second].second = std::move(value);
    } else {
      index_.emplace(std::move(k), entries_.size());
      entries_.emplace_back(std::move(key), std::move(value));
    }
    return true;
  }
  void set_ordered(bool o) { ordered_ = o; }
  void set_attributes(PyPtr a) { attributes_ = std::move(a); }
  void set_text(std::string s) { text_ = std::move(s); }
  std::shared_ptr<TorchTensorRef>& mutable_ref() { return ref_; }
  std::shared_ptr<TorchStorage>& mutable_storage() { return storage_; }
  std::shared_ptr<HostTensor>& mutable_tensor() { return tensor_; }
  // Structural bookkeeping of the interpreter (see the class comment).
  bool sealed = false;
  int height = 0;
  bool built = false;  // BUILD already applied

 private:
  void expect(Kind k) const {
    if (kind_ != k) {
      PyValue tmp(k);
      fail<FormatError>("expected a ", tmp.type_name(), ", found a ", type_name());
    }
  }
  static std::string key_of_string(const std::string& s) { return "s" + s; }
  static std::string key_of_int(int64_t i) { return "i" + std::to_string(i); }
  static bool hash_key(const PyValue& v, std::string& out) {
    switch (v.kind_) {
      case Kind::String: out = key_of_string(v.text_); return true;
      case Kind::Bytes: out = "b" + v.text_; return true;
      case Kind::Int: case Kind::Bool: out = key_of_int(v.int_); return true;
      case Kind::None: out = "n"; return true;
      default: return false;
    }
  }
  PyPtr lookup(const std::string& k) const {
    if (kind_ != Kind::Dict) return nullptr;
    auto it = index_.find(k);
    return it == index_.end() ? nullptr : entries_[it->second].second;
  }

  Kind kind_;
  int64_t int_ = 0;
  double real_ = 0;
  std::string text_;
  std::vector<PyPtr> items_;
  std::vector<std::pair<PyPtr, PyPtr>> entries_;
  std::unordered_map<std::string, size_t> index_;
  bool ordered_ = false;
  PyPtr attributes_;
  std::shared_ptr<TorchTensorRef> ref_;
  std::shared_ptr<TorchStorage> storage_;
  std::shared_ptr<HostTensor> tensor_;
};

}  // namespace rfcf::io
