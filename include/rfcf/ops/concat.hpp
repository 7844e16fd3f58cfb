#pragma once
// Channel concatenation of NCHW (or [N, C, ...]) tensors and its backward (a split).
#include <string>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/channels.hpp"

namespace rfcf::ops {

namespace detail {
template <class T, class D>
int64_t inner_size(const Tensor<T, D>& t) {
  int64_t hw = 1;
  for (int i = 2; i < t.rank(); ++i) hw *= t.dim(i);
  return hw;
}
}  // namespace detail

template <class T, class D>
Tensor<T, D> concat_channels(const std::vector<Tensor<T, D>>& parts) {
  check<ShapeError>(!parts.empty(), "concat_channels: no inputs");
  const Shape& s0 = parts[0].shape();
  check<ShapeError>(s0.rank() >= 2, "concat_channels: inputs need rank >= 2, got ", s0.str());
  int64_t c_total = 0;
  for (const auto& p : parts) {
    bool same = p.rank() == s0.rank() && p.dim(0) == s0[0];
    for (int i = 2; same && i < s0.rank(); ++i) same = p.dim(i) == s0[i];
    check<ShapeError>(same, "concat_channels: shape ", p.shape().str(), " does not match ", s0.str(),
                      " outside the channel axis");
    c_total += p.dim(1);
  }
  Shape out_shape = s0;
  out_shape[1] = c_total;
  Tensor<T, D> out(out_shape);
  const int64_t hw = detail::inner_size(parts[0]);
  int64_t offset = 0;
  for (const auto& p : parts) {
    Executor<D>::for_each(p.numel(), functors::NarrowToWide<T>{p.data(), out.data(), p.dim(1), c_total, offset, hw});
    offset += p.dim(1);
  }
  return out;
}

// Channels [offset, offset + count) of x as a new tensor.
template <class T, class D>
Tensor<T, D> slice_channels(const Tensor<T, D>& x, int64_t offset, int64_t count) {
  check<ShapeError>(x.rank() >= 2 && offset >= 0 && count >= 0 && offset + count <= x.dim(1),
                    "slice_channels [", offset, ", ", offset + count, ") out of range for ", x.shape().str());
  Shape s = x.shape();
  s[1] = count;
  Tensor<T, D> out(s);
  Executor<D>::for_each(out.numel(), functors::WideToNarrow<T>{x.data(), out.data(), count, x.dim(1), offset,
                                                               detail::inner_size(x)});
  return out;
}

}  // namespace rfcf::ops
