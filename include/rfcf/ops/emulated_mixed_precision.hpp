#pragma once
// EmulatedMixedPrecision<D>: the mixed-precision contract of ops/mixed_precision.hpp computed
// with the fp32 ops of device D on values rounded to the 16-bit type. Exact up to the order of
// fp32 accumulation, so it is the cpu implementation and the reference the cuda tensor-core
// path is tested against.
#include <cstdint>
#include <type_traits>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/cast.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/gemm.hpp"

namespace rfcf::functors {

struct AddChannelBias {  // y[n, c, :] += bias[c] on NCHW data with `plane` pixels
  float* y;
  const float* bias;
  int64_t channels, plane;
  RFCF_HD void operator()(int64_t i) const { y[i] += bias[(i / plane) % channels]; }
};

struct AccumulateChannelSums {  // db[c] += sum over n and pixels of dy[n, c, :]
  const float* dy;
  float* db;
  int64_t n, channels, plane;
  RFCF_HD void operator()(int64_t c) const {
    double s = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t q = 0; q < plane; ++q) s += dy[(b * channels + c) * plane + q];
    db[c] += static_cast<float>(s);
  }
};

}  // namespace rfcf::functors

namespace rfcf::ops {

template <class D>
struct EmulatedMixedPrecision {
  using T = Tensor<float, D>;

  static T conv2d_forward(ComputePrecision p, const Conv2dGeometry& g, const T& x, const T& w, const T* bias) {
    T y = Conv2dOp<D>::forward(g, rounded(x, p), rounded(w, p), nullptr);
    round_to_precision(y, p);
    if (bias) {
      check<ShapeError>(bias->rank() == 1 && bias->dim(0) == w.dim(0), "conv2d_forward (", precision_name(p),
                        "): bias ", bias->shape().str(), " does not match ", w.dim(0), " output channels");
      const int64_t plane = y.dim(2) * y.dim(3);
      Executor<D>::for_each(y.numel(), functors::AddChannelBias{y.data(), bias->data(), y.dim(1), plane});
    }
    return y;
  }

  static T conv2d_backward_data(ComputePrecision p, const Conv2dGeometry& g, const T& dy, const T& w,
                                const Shape& x_shape) {
    T dx = Conv2dOp<D>::backward_data(g, rounded(dy, p), rounded(w, p), x_shape);
    round_to_precision(dx, p);
    return dx;
  }

  static void conv2d_backward_weight(ComputePrecision p, const Conv2dGeometry& g, const T& x, const T& dy, T& dw,
                                     T* db) {
    T part = zeros<float, D>(dw.shape());
    Conv2dOp<D>::backward_weight(g, rounded(x, p), rounded(dy, p), part, nullptr);
    Executor<D>::for_each(dw.numel(), functors::AccumulateRounded{part.data(), dw.data(), p});
    if (db) {
      check<ShapeError>(db->rank() == 1 && db->dim(0) == dy.dim(1), "conv2d_backward_weight (", precision_name(p),
                        "): bias gradient ", db->shape().str(), " does not match ", dy.dim(1), " channels");
      Executor<D>::for_each(dy.dim(1), functors::AccumulateChannelSums{dy.data(), db->data(), dy.dim(0), dy.dim(1),
                                                                       dy.dim(2) * dy.dim(3)});
    }
  }

  static void gemm(ComputePrecision p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0 || K <= 0) return Gemm<D>::run(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    const T a = rounded_matrix(p, A, trans_a ? K : M, trans_a ? M : K, lda);
    const T b = rounded_matrix(p, B, trans_b ? N : K, trans_b ? K : N, ldb);
    Gemm<D>::run(trans_a, trans_b, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, C, ldc);
  }

 private:
  // The rows x cols matrix with row stride ld, rounded, in a buffer with the same stride.
  static T rounded_matrix(ComputePrecision p, const float* m, int64_t rows, int64_t cols, int64_t ld) {
    const int64_t count = (rows - 1) * ld + cols;
    T out(Shape{count});
    Executor<D>::for_each(count, functors::RoundToPrecision{m, out.data(), p});
    return out;
  }
};

}  // namespace rfcf::ops
