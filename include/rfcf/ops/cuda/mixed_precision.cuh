#pragma once
// MixedPrecision<cuda>: bf16 / fp16 convolutions through cuDNN (16-bit x, w, y; fp32 compute;
// tensor-op math) and GEMMs through cublasGemmEx (16-bit A, B; fp32 C and accumulation). The
// fp32 tensors are cast to 16-bit temporaries (caching allocator) by one kernel each, and conv
// outputs are cast back. Contract and numerics: ops/mixed_precision.hpp; the cpu emulation
// (ops/emulated_mixed_precision.hpp) is the reference it is tested against.
#include <cudnn.h>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/executor.cuh"
#include "rfcf/core/cuda/handles.cuh"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/half.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/ops/cast.hpp"
#include "rfcf/ops/cuda/conv2d.cuh"
#include "rfcf/ops/cuda/gemm.cuh"
#include "rfcf/ops/emulated_mixed_precision.hpp"
#include "rfcf/ops/mixed_precision.hpp"

namespace rfcf::ops {

template <>
struct MixedPrecision<cuda> {
  using T = Tensor<float, cuda>;

  static T conv2d_forward(ComputePrecision p, const Conv2dGeometry& g, const T& x, const T& w, const T* bias) {
    return p == ComputePrecision::fp16 ? forward_as<float16>(g, x, w, bias) : forward_as<bfloat16>(g, x, w, bias);
  }
  static T conv2d_backward_data(ComputePrecision p, const Conv2dGeometry& g, const T& dy, const T& w,
                                const Shape& x_shape) {
    return p == ComputePrecision::fp16 ? backward_data_as<float16>(g, dy, w, x_shape)
                                       : backward_data_as<bfloat16>(g, dy, w, x_shape);
  }
  static void conv2d_backward_weight(ComputePrecision p, const Conv2dGeometry& g, const T& x, const T& dy, T& dw,
                                     T* db) {
    if (p == ComputePrecision::fp16) backward_weight_as<float16>(g, x, dy, dw);
    else backward_weight_as<bfloat16>(g, x, dy, dw);
    if (db) bias_grad(g, x.shape(), dw.shape(), dy, *db);
  }
  static void gemm(ComputePrecision p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (p == ComputePrecision::fp16) gemm_as<float16>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_as<bfloat16>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }

 private:
  template <class H>
  static T forward_as(const Conv2dGeometry& g, const T& x, const T& w, const T* bias) {
    const Tensor<H, cuda> yh = Conv2dOp<cuda>::forward(g, cast<H>(x), cast<H>(w), nullptr);
    T y = cast<float>(yh);
    if (bias) {
      check<ShapeError>(bias->rank() == 1 && bias->dim(0) == w.dim(0), "conv2d_forward (mixed precision): bias ",
                        bias->shape().str(), " does not match ", w.dim(0), " output channels");
      Executor<cuda>::for_each(y.numel(),
                               functors::AddChannelBias{y.data(), bias->data(), y.dim(1), y.dim(2) * y.dim(3)});
    }
    return y;
  }
  template <class H>
  static T backward_data_as(const Conv2dGeometry& g, const T& dy, const T& w, const Shape& x_shape) {
    return cast<float>(Conv2dOp<cuda>::backward_data(g, cast<H>(dy), cast<H>(w), x_shape));
  }
  template <class H>
  static void backward_weight_as(const Conv2dGeometry& g, const T& x, const T& dy, T& dw) {
    Tensor<H, cuda> dwh = full<H, cuda>(dw.shape(), H(0.0f));
    Conv2dOp<cuda>::backward_weight(g, cast<H>(x), cast<H>(dy), dwh, nullptr);
    Executor<cuda>::for_each(dw.numel(), functors::AccumulateCast<H>{dwh.data(), dw.data()});
  }
  // db += per-channel sums of the fp32 dy (cuDNN, fp32).
  static void bias_grad(const Conv2dGeometry& g, const Shape& x, const Shape& w, const T& dy, T& db) {
    check<ShapeError>(db.rank() == 1 && db.dim(0) == w[0], "conv2d_backward_weight (mixed precision): bias gradient ",
                      db.shape().str(), " does not match ", w[0], " output channels");
    if (x[0] == 0) return;
    cuda_conv::BiasDescriptor bd(CUDNN_DATA_FLOAT, w[0]);
    cuda_conv::Descriptors d(CUDNN_DATA_FLOAT, g, x, w);
    const float one = 1;
    RFCF_CUDNN_CHECK(cudnnConvolutionBackwardBias(cuda_rt::cudnn_handle(), &one, d.y(), dy.data(), &one, bd.get(),
                                                  db.data()));
  }
  template <class H>
  static void gemm_as(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0 || K <= 0) return Gemm<cuda>::run(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    const Tensor<H, cuda> a = cast_matrix<H>(A, trans_a ? K : M, trans_a ? M : K, lda);
    const Tensor<H, cuda> b = cast_matrix<H>(B, trans_b ? N : K, trans_b ? K : N, ldb);
    Gemm<cuda>::run_mixed_f32(trans_a, trans_b, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, C, ldc);
  }
  // The rows x cols matrix with row stride ld as 16-bit values with the same stride.
  template <class H>
  static Tensor<H, cuda> cast_matrix(const float* m, int64_t rows, int64_t cols, int64_t ld) {
    const int64_t count = (rows - 1) * ld + cols;
    Tensor<H, cuda> out(Shape{count});
    Executor<cuda>::for_each(count, functors::Cast<float, H>{m, out.data()});
    return out;
  }
};

}  // namespace rfcf::ops
