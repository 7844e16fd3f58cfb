#pragma once
// 2-D convolution (cross-correlation as in PyTorch) on NCHW tensors.
// Device-independent declarations; cpu: ops/cpu/conv2d.hpp, cuda: ops/cuda/conv2d.cuh.
#include <cstdint>
#include <string>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::ops {

struct Conv2dGeometry {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  int64_t out_h(int64_t in_h) const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_w(int64_t in_w) const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  bool is_depthwise(int64_t in_channels) const { return groups == in_channels && groups > 1; }
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

// Op family, specialised per device:
//   Tensor forward(const Conv2dGeometry&, const Tensor& x [N,Cin,H,W], const Tensor& w
//                  [Cout,Cin/groups,kh,kw], const Tensor* bias [Cout] or nullptr) -> [N,Cout,Ho,Wo]
//   Tensor backward_data(const Conv2dGeometry&, const Tensor& dy, const Tensor& w, const Shape& x_shape)
//   void backward_weight(const Conv2dGeometry&, const Tensor& x, const Tensor& dy,
//                        Tensor& dw, Tensor* db)   (ACCUMULATES into dw and db)
template <class D>
struct Conv2dOp;

}  // namespace rfcf::ops
