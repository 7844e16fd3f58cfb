#pragma once
// Naive row-major GEMM with the Gemm<D>::run signature: C = alpha * op(A) op(B) + beta * C,
// accumulated in double.
#include <cstdint>

namespace rfcf::ops::reference {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const T a = trans_a ? A[k * lda + m] : A[m * lda + k];
        const T b = trans_b ? B[n * ldb + k] : B[k * ldb + n];
        s += static_cast<double>(a) * static_cast<double>(b);
      }
      T& c = C[m * ldc + n];
      c = static_cast<T>(alpha * s + (beta == T(0) ? 0.0 : static_cast<double>(beta) * c));
    }
}

}  // namespace rfcf::ops::reference
