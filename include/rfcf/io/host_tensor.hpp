#pragma once
// HostTensor: a tensor read from (or about to be written to) a file — dtype, shape and raw
// little-endian bytes in host memory. TensorMap: named HostTensors in insertion order (the
// order of a state dict). Typed accessors convert between element types on request.
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rfcf/core/allocator.hpp"  // host tensors; cuda tensors need <rfcf/cuda.cuh>
#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/dtype.hpp"

namespace rfcf::io {

namespace detail {
// a * b for non-negative values; false on overflow of int64.
inline bool mul_ok(int64_t a, int64_t b, int64_t& out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return false;
  out = a * b;
  return true;
}
}  // namespace detail

// Product of the dimensions (1 for a scalar); throws FormatError on negative sizes or overflow.
inline int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    check<FormatError>(d >= 0, what, ": negative dimension ", d);
    check<FormatError>(detail::mul_ok(n, d, n), what, ": number of elements overflows int64");
  }
  return n;
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // [] is a scalar
  std::vector<uint8_t> bytes;  // numel * element_size(dtype), row-major, little-endian

  int64_t numel() const { return checked_numel(shape, "HostTensor"); }

  // Values converted to T from any dtype (F16/BF16/F64/integers/bool included).
  template <class T>
  std::vector<T> as() const {
    const size_t n = static_cast<size_t>(numel());
    check<FormatError>(bytes.size() == n * element_size(dtype), "HostTensor of shape ", shape_str(shape),
                       " and dtype ", dtype_name(dtype), " holds ", bytes.size(), " bytes");
    std::vector<T> out(n);
    const uint8_t* p = bytes.data();
    auto each = [&](auto tag) {
      using S = decltype(tag);
      for (size_t i = 0; i < n; ++i) {
        S s;
        std::memcpy(&s, p + i * sizeof(S), sizeof(S));
        out[i] = static_cast<T>(s);
      }
    };
    switch (dtype) {
      case DType::Bool:
        for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(p[i] != 0);
        break;
      case DType::U8: each(uint8_t{}); break;
      case DType::I8: each(int8_t{}); break;
      case DType::I16: each(int16_t{}); break;
      case DType::I32: each(int32_t{}); break;
      case DType::I64: each(int64_t{}); break;
      case DType::F32: each(float{}); break;
      case DType::F64: each(double{}); break;
      case DType::F16:
      case DType::BF16:
        for (size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[i] = static_cast<T>(dtype == DType::F16 ? half_to_float(h) : bf16_to_float(h));
        }
        break;
    }
    return out;
  }
  std::vector<float> as_float() const { return as<float>(); }
  std::vector<double> as_double() const { return as<double>(); }
  std::vector<int64_t> as_int64() const { return as<int64_t>(); }

  // The single value of a one-element tensor (e.g. num_batches_tracked).
  template <class T>
  T item() const {
    check<FormatError>(numel() == 1, "item() on a tensor of shape ", shape_str(shape));
    return as<T>()[0];
  }

  template <class T>
  static HostTensor from_values(std::vector<int64_t> shape, const std::vector<T>& values) {
    HostTensor t;
    t.dtype = dtype_of<T>();
    t.shape = std::move(shape);
    check<ShapeError>(static_cast<size_t>(t.numel()) == values.size(), "HostTensor::from_values: ",
                      values.size(), " values for shape ", shape_str(t.shape));
    if constexpr (std::is_same_v<T, bool>) {
      t.bytes.resize(values.size());
      for (size_t i = 0; i < values.size(); ++i) t.bytes[i] = values[i] ? 1 : 0;
    } else {
      const auto* src = reinterpret_cast<const uint8_t*>(values.data());
      t.bytes.assign(src, src + values.size() * sizeof(T));
    }
    return t;
  }
  template <class T>
  static HostTensor scalar(T v) { return from_values<T>({}, std::vector<T>{v}); }

  template <class T, class D>
  static HostTensor from_tensor(const Tensor<T, D>& x) {
    return from_values<T>(x.shape().vec(), x.to_vector());
  }

  // A new Tensor on device D holding these values converted to T.
  template <class T, class D = cpu>
  Tensor<T, D> to_tensor() const {
    check<ShapeError>(shape.size() <= static_cast<size_t>(Shape::kMaxRank), "tensor of rank ", shape.size(),
                      " exceeds the maximum rank ", Shape::kMaxRank);
    return Tensor<T, D>::from_host(Shape(shape), as<T>());
  }
};

// Named tensors in insertion order with O(1) lookup by name.
class TensorMap {
 public:
  using value_type = std::pair<std::string, HostTensor>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;

  // Adds or replaces an entry (a replaced entry keeps its position).
  HostTensor& set(const std::string& name, HostTensor t) {
    auto it = index_.find(name);
    if (it != index_.end()) return items_[it->second].second = std::move(t);
    index_.emplace(name, items_.size());
    items_.emplace_back(name, std::move(t));
    return items_.back().second;
  }
  // Adds an entry; throws FormatError if the name is already present.
  HostTensor& insert_new(const std::string& name, HostTensor t) {
    check<FormatError>(!contains(name), "duplicate tensor name '", name, "'");
    return set(name, std::move(t));
  }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const HostTensor* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  HostTensor* find(const std::string& name) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &items_[it->second].second;
  }
  const HostTensor& at(const std::string& name) const {
    const HostTensor* t = find(name);
    if (!t) fail<Error>("no tensor named '", name, "'");
    return *t;
  }
  HostTensor& at(const std::string& name) {
    HostTensor* t = find(name);
    if (!t) fail<Error>("no tensor named '", name, "'");
    return *t;
  }
  bool erase(const std::string& name) {
    auto it = index_.find(name);
    if (it == index_.end()) return false;
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(it->second));
    reindex();
    return true;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    v.reserve(items_.size());
    for (auto& kv : items_) v.push_back(kv.first);
    return v;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }

 private:
  void reindex() {
    index_.clear();
    for (size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].first, i);
  }
  std::vector<value_type> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace rfcf::io
