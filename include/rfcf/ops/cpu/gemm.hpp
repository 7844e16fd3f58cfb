#pragma once
// Row-major GEMM on the host through Eigen (multi-threaded with OpenMP).
#include <Eigen/Core>
#include <cstdint>

#include "rfcf/core/device.hpp"
#include "rfcf/ops/gemm.hpp"

namespace rfcf::ops {

template <>
struct Gemm<cpu> {
  template <class T>
  static void run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    using CMap = Eigen::Map<const Mat, Eigen::Unaligned, Stride>;
    Eigen::Map<Mat, Eigen::Unaligned, Stride> c(C, M, N, Stride(ldc));
    if (beta == T(0)) c.setZero();
    else if (beta != T(1)) c *= beta;
    if (M == 0 || N == 0 || K == 0) return;
    const CMap a(A, trans_a ? K : M, trans_a ? M : K, Stride(lda));
    const CMap b(B, trans_b ? N : K, trans_b ? K : N, Stride(ldb));
    if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
    else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
    else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
    else c.noalias() += alpha * a.transpose() * b.transpose();
  }
};

}  // namespace rfcf::ops
