#pragma once
// Mixed-precision convolution and GEMM: the op family MixedPrecision<D> and the dispatch the
// layers use (conv2d_forward, conv2d_backward_data, conv2d_backward_weight, gemm), which picks
// it for T = float when the precision p is bf16 or fp16 and the plain fp32 ops otherwise.
//
// Numerics (identical contract on every device; cpu: ops/emulated_mixed_precision.hpp rounds
// through fp32, cuda: ops/cuda/mixed_precision.cuh runs cuDNN / cuBLAS on 16-bit tensors):
//   conv forward        y  = round16(conv(round16(x), round16(w))) + bias     (bias in fp32)
//   conv backward data  dx = round16(conv_bwd_data(round16(dy), round16(w)))
//   conv backward weight dw += round16(conv_bwd_filter(round16(x), round16(dy))), db += sum(dy) (fp32)
//   gemm                C  = alpha * op(round16(A)) op(round16(B)) + beta * C  (C and accumulation fp32)
// where round16 rounds to nearest even in the 16-bit type and every product is accumulated in
// fp32. The conv outputs are 16-bit because cuDNN writes its output in the tensors' type.
//
// Family interface (float tensors, p = bf16 or fp16):
//   static Tensor<float, D> conv2d_forward(ComputePrecision p, const Conv2dGeometry&, const Tensor& x,
//                                          const Tensor& w, const Tensor* bias);
//   static Tensor<float, D> conv2d_backward_data(p, g, const Tensor& dy, const Tensor& w, const Shape& x_shape);
//   static void conv2d_backward_weight(p, g, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* db);
//   static void gemm(p, trans_a, trans_b, M, N, K, float alpha, const float* A, lda, const float* B, ldb,
//                    float beta, float* C, ldc);
#include <cstdint>
#include <type_traits>

#include "rfcf/core/precision.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/gemm.hpp"

namespace rfcf::ops {

template <class D>
struct MixedPrecision;

namespace mixed_detail {
template <class T>
bool mixed(ComputePrecision p) {
  return std::is_same_v<T, float> && p != ComputePrecision::fp32;
}
}  // namespace mixed_detail

template <class T, class D>
Tensor<T, D> conv2d_forward(ComputePrecision p, const Conv2dGeometry& g, const Tensor<T, D>& x, const Tensor<T, D>& w,
                            const std::type_identity_t<Tensor<T, D>>* bias) {
  if constexpr (std::is_same_v<T, float>)
    if (mixed_detail::mixed<T>(p)) return MixedPrecision<D>::conv2d_forward(p, g, x, w, bias);
  return Conv2dOp<D>::forward(g, x, w, bias);
}

template <class T, class D>
Tensor<T, D> conv2d_backward_data(ComputePrecision p, const Conv2dGeometry& g, const Tensor<T, D>& dy,
                                  const Tensor<T, D>& w, const Shape& x_shape) {
  if constexpr (std::is_same_v<T, float>)
    if (mixed_detail::mixed<T>(p)) return MixedPrecision<D>::conv2d_backward_data(p, g, dy, w, x_shape);
  return Conv2dOp<D>::backward_data(g, dy, w, x_shape);
}

template <class T, class D>
void conv2d_backward_weight(ComputePrecision p, const Conv2dGeometry& g, const Tensor<T, D>& x,
                            const Tensor<T, D>& dy, Tensor<T, D>& dw, std::type_identity_t<Tensor<T, D>>* db) {
  if constexpr (std::is_same_v<T, float>)
    if (mixed_detail::mixed<T>(p)) return MixedPrecision<D>::conv2d_backward_weight(p, g, x, dy, dw, db);
  Conv2dOp<D>::backward_weight(g, x, dy, dw, db);
}

template <class D, class T>
void gemm(ComputePrecision p, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    if (mixed_detail::mixed<T>(p))
      return MixedPrecision<D>::gemm(p, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  Gemm<D>::run(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace rfcf::ops
