#pragma once
// Reductions to a host scalar (sum, dot, sum of squares) and per-channel sums.
// Device-independent: the op family ReduceOp<D> is specialised per device
// (cpu: ops/cpu/reduce.hpp, cuda: ops/cuda/reduce.cuh). Interface of ReduceOp<D>:
//   static double sum(const T* x, int64_t n);
//   static double dot(const T* a, const T* b, int64_t n);
//   static double sum_squares(const T* x, int64_t n);
//   // x viewed as [outer, c, inner]; out[k] = sum over outer and inner of x (resp. a*b) at channel k.
//   static void channel_sum(const T* x, int64_t outer, int64_t c, int64_t inner, T* out);
//   static void channel_dot(const T* a, const T* b, int64_t outer, int64_t c, int64_t inner, T* out);
// Results are accumulated in double on the host (fp32 sums of millions of values stay exact
// to ~1e-7 relative).
#include <cstdint>
#include <string>

#include "rfcf/core/tensor.hpp"

namespace rfcf::ops {

template <class D>
struct ReduceOp;

template <class T, class D>
double sum(const Tensor<T, D>& x) {
  return ReduceOp<D>::sum(x.data(), x.numel());
}

template <class T, class D>
double dot(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  check<ShapeError>(a.numel() == b.numel(), "dot: ", a.shape().str(), " and ", b.shape().str(),
                    " have different sizes");
  return ReduceOp<D>::dot(a.data(), b.data(), a.numel());
}

// Sum of x^2 (the squared L2 norm; gradient clipping uses it on the flat gradient buffer).
template <class T, class D>
double sum_squares(const Tensor<T, D>& x) {
  return ReduceOp<D>::sum_squares(x.data(), x.numel());
}

namespace detail {
// [outer, c, inner] view of a tensor reduced over every axis but `axis`.
inline void split_at_axis(const Shape& s, int axis, int64_t& outer, int64_t& c, int64_t& inner,
                          const char* what) {
  check<ShapeError>(axis >= 0 && axis < s.rank(), what, ": axis ", axis, " out of range for shape ", s.str());
  outer = 1;
  inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  c = s[axis];
}
}  // namespace detail

// out[k] = sum of x over every axis except `axis` (default 1: per channel of [N, C, ...]).
template <class T, class D>
Tensor<T, D> channel_sum(const Tensor<T, D>& x, int axis = 1) {
  int64_t outer, c, inner;
  detail::split_at_axis(x.shape(), axis, outer, c, inner, "channel_sum");
  Tensor<T, D> out(Shape{c});
  ReduceOp<D>::channel_sum(x.data(), outer, c, inner, out.data());
  return out;
}

// out[k] = sum of a*b over every axis except `axis`.
template <class T, class D>
Tensor<T, D> channel_dot(const Tensor<T, D>& a, const Tensor<T, D>& b, int axis = 1) {
  check_same_shape(a, b, "channel_dot");
  int64_t outer, c, inner;
  detail::split_at_axis(a.shape(), axis, outer, c, inner, "channel_dot");
  Tensor<T, D> out(Shape{c});
  ReduceOp<D>::channel_dot(a.data(), b.data(), outer, c, inner, out.data());
  return out;
}

}  // namespace rfcf::ops
