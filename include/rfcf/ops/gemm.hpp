#pragma once
// General matrix multiply on row-major matrices, specialised per device:
//   C[M,N] = alpha * op(A) * op(B) + beta * C,  op(X) = X or X^T.
// lda/ldb/ldc are row strides (elements) of the matrices as stored.
// cpu: ops/cpu/gemm.hpp (Eigen); cuda: ops/cuda/gemm.cuh (cuBLAS).
#include <cstdint>

namespace rfcf::ops {

template <class D>
struct Gemm;
// static void run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha,
//                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace rfcf::ops
