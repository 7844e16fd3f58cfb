#pragma once
// Tensor<T, Device>: dense row-major (NCHW) storage owned by a device. Copies of a Tensor
// share storage (like torch.Tensor); clone() makes a deep copy. Views over the leading
// (batch) dimension share storage with an element offset.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/core/shape.hpp"

namespace rfcf {

template <class D>
class Storage {
 public:
  explicit Storage(size_t bytes) : bytes_(bytes) {
    require_device<D>();
    ptr_ = bytes ? Allocator<D>::allocate(bytes) : nullptr;
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (ptr_) Allocator<D>::deallocate(ptr_, bytes_);
  }
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

template <class T, class D>
class Tensor {
 public:
  using value_type = T;
  using device_type = D;

  Tensor() = default;
  explicit Tensor(const Shape& shape)
      : storage_(std::make_shared<Storage<D>>(static_cast<size_t>(shape.numel()) * sizeof(T))),
        shape_(shape) {}

  // A tensor holding a copy of host values (shape.numel() must equal values.size()).
  static Tensor from_host(const Shape& shape, const T* values) {
    Tensor t(shape);
    DeviceCopy<D, cpu>::copy(t.data(), values, t.bytes());
    return t;
  }
  static Tensor from_host(const Shape& shape, const std::vector<T>& values) {
    check<ShapeError>(static_cast<int64_t>(values.size()) == shape.numel(), "from_host: ",
                      values.size(), " values do not fill shape ", shape.str());
    return from_host(shape, values.data());
  }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_.dim(i); }
  int64_t numel() const { return shape_.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * sizeof(T); }
  // NCHW accessors for rank-4 tensors.
  int64_t n() const { return dim(0); }
  int64_t c() const { return dim(1); }
  int64_t h() const { return dim(2); }
  int64_t w() const { return dim(3); }

  T* data() { return storage_ ? static_cast<T*>(storage_->data()) + offset_ : nullptr; }
  const T* data() const { return storage_ ? static_cast<const T*>(storage_->data()) + offset_ : nullptr; }

  // Rows [begin, begin + count) of the leading dimension, sharing storage.
  Tensor slice_batch(int64_t begin, int64_t count) const {
    check<ShapeError>(rank() >= 1, "slice_batch on a scalar tensor");
    check<ShapeError>(begin >= 0 && count >= 0 && begin + count <= dim(0), "slice_batch [", begin,
                      ", ", begin + count, ") out of range for shape ", shape_.str());
    Tensor v = *this;
    v.offset_ += begin * (numel() / std::max<int64_t>(dim(0), 1));
    v.shape_[0] = count;
    return v;
  }

  // Same storage, another shape with the same number of elements.
  Tensor reshape(const Shape& s) const {
    check<ShapeError>(s.numel() == numel(), "reshape from ", shape_.str(), " to ", s.str(),
                      " changes the number of elements");
    Tensor v = *this;
    v.shape_ = s;
    return v;
  }

  // Deep copy on the same device.
  Tensor clone() const {
    Tensor t(shape_);
    DeviceCopy<D, D>::copy(t.data(), data(), bytes());
    return t;
  }

  // Deep copy on another device.
  template <class D2>
  Tensor<T, D2> to() const {
    Tensor<T, D2> t(shape_);
    DeviceCopy<D2, D>::copy(t.data(), data(), bytes());
    return t;
  }

  // Copies values from a tensor of the same shape on any device.
  template <class D2>
  void copy_from(const Tensor<T, D2>& src) {
    check<ShapeError>(src.shape() == shape_, "copy_from: shape ", src.shape().str(), " into ",
                      shape_.str());
    DeviceCopy<D, D2>::copy(data(), src.data(), bytes());
  }

  std::vector<T> to_vector() const {
    std::vector<T> v(static_cast<size_t>(numel()));
    DeviceCopy<cpu, D>::copy(v.data(), data(), bytes());
    return v;
  }

  // True if both tensors view the same storage (used to detect aliasing).
  bool shares_storage_with(const Tensor& o) const { return storage_ && storage_ == o.storage_; }

 private:
  template <class, class>
  friend class Tensor;

  std::shared_ptr<Storage<D>> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
};

// Throws a ShapeError naming `what` unless a and b have the same shape.
template <class T, class D, class T2, class D2>
void check_same_shape(const Tensor<T, D>& a, const Tensor<T2, D2>& b, const std::string& what) {
  check<ShapeError>(a.shape() == b.shape(), what, ": shapes ", a.shape().str(), " and ",
                    b.shape().str(), " differ");
}

template <class T, class D>
void check_rank(const Tensor<T, D>& t, int rank, const std::string& what) {
  check<ShapeError>(t.rank() == rank, what, ": expected a rank-", rank, " tensor, got shape ",
                    t.shape().str());
}

}  // namespace rfcf
