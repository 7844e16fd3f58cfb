#pragma once
// Layout permutations between NCHW and NHWC, device-generic.
#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/layout.hpp"

namespace rfcf::ops {

// [N,C,H,W] -> [N,H,W,C]
template <class T, class D>
Tensor<T, D> nchw_to_nhwc(const Tensor<T, D>& x) {
  check_rank(x, 4, "nchw_to_nhwc");
  Tensor<T, D> y(Shape{x.n(), x.h(), x.w(), x.c()});
  Executor<D>::for_each(x.numel(), functors::NchwToNhwc<T>{x.data(), y.data(), x.c(), x.h() * x.w()});
  return y;
}
// [N,H,W,C] -> [N,C,H,W]
template <class T, class D>
Tensor<T, D> nhwc_to_nchw(const Tensor<T, D>& x) {
  check_rank(x, 4, "nhwc_to_nchw");
  Tensor<T, D> y(Shape{x.dim(0), x.dim(3), x.dim(1), x.dim(2)});
  Executor<D>::for_each(x.numel(), functors::NhwcToNchw<T>{x.data(), y.data(), x.dim(3), x.dim(1) * x.dim(2)});
  return y;
}

}  // namespace rfcf::ops
