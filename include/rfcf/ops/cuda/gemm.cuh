#pragma once
// Row-major GEMM on the GPU through cuBLAS (column-major). A row-major matrix X with row
// stride ld is, read column-major, X^T with leading dimension ld. So
//   C = op(A) op(B)  (row-major)   <=>   C^T = op(B)^T op(A)^T  (column-major),
// which is one cuBLAS call with the operands swapped, m = N, n = M and unchanged transposes.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <type_traits>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/handles.cuh"
#include "rfcf/core/device.hpp"
#include "rfcf/core/half.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/ops/gemm.hpp"

namespace rfcf::ops {

namespace cuda_detail {
// Storage types cuBLAS multiplies through cublasGemmEx with fp32 accumulation.
template <class T>
struct GemmExType;
template <>
struct GemmExType<__half> { static constexpr cudaDataType_t value = CUDA_R_16F; };
template <>
struct GemmExType<__nv_bfloat16> { static constexpr cudaDataType_t value = CUDA_R_16BF; };
template <>
struct GemmExType<bfloat16> { static constexpr cudaDataType_t value = CUDA_R_16BF; };
template <>
struct GemmExType<float16> { static constexpr cudaDataType_t value = CUDA_R_16F; };
template <class T>
concept GemmExStorage = requires { GemmExType<T>::value; };

inline int to_int(int64_t v, const char* what) {
  check<ShapeError>(v >= 0 && v <= INT_MAX, "Gemm<cuda>: ", what, " = ", v, " is out of cuBLAS's int range");
  return static_cast<int>(v);
}
}  // namespace cuda_detail

template <>
struct Gemm<cuda> {
  // T = float or double (alpha, beta of type T); __half and __nv_bfloat16 through run_mixed.
  template <class T>
  static void run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "Gemm<cuda>::run supports float and double; use run_mixed for half/bfloat16");
    Args g = checked(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    if (M == 0 || N == 0) return;
    cublasHandle_t h = cuda_rt::cublas_handle();
    if constexpr (std::is_same_v<T, float>)
      RFCF_CUBLAS_CHECK(cublasSgemm(h, g.op_b, g.op_a, g.m, g.n, g.k, &alpha, B, g.ldb, A, g.lda, &beta, C, g.ldc));
    else
      RFCF_CUBLAS_CHECK(cublasDgemm(h, g.op_b, g.op_a, g.m, g.n, g.k, &alpha, B, g.ldb, A, g.lda, &beta, C, g.ldc));
  }

  // Half-precision storage (__half, __nv_bfloat16, rfcf::float16, rfcf::bfloat16) with fp32
  // accumulation and fp32 alpha/beta.
  template <class T>
    requires cuda_detail::GemmExStorage<T>
  static void run_mixed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const T* A,
                        int64_t lda, const T* B, int64_t ldb, float beta, T* C, int64_t ldc) {
    gemm_ex(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, cuda_detail::GemmExType<T>::value, ldc,
            cuda_detail::GemmExType<T>::value);
  }

  // 16-bit A and B, fp32 C: tensor-core products with fp32 accumulation and an fp32 result
  // (what MixedPrecision<cuda>::gemm runs under Autocast).
  template <class T>
    requires cuda_detail::GemmExStorage<T>
  static void run_mixed_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const T* A,
                            int64_t lda, const T* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    gemm_ex(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, CUDA_R_32F, ldc,
            cuda_detail::GemmExType<T>::value);
  }

 private:
  // cublasGemmEx with A and B of type ab, C of type c, fp32 accumulation and fp32 alpha/beta.
  static void gemm_ex(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
                      int64_t lda, const void* B, int64_t ldb, float beta, void* C, cudaDataType_t c, int64_t ldc,
                      cudaDataType_t ab) {
    Args g = checked(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    if (M == 0 || N == 0) return;
    RFCF_CUBLAS_CHECK(cublasGemmEx(cuda_rt::cublas_handle(), g.op_b, g.op_a, g.m, g.n, g.k, &alpha, B, ab, g.ldb, A, ab,
                                   g.lda, &beta, C, c, g.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  struct Args {
    cublasOperation_t op_a, op_b;
    int m, n, k, lda, ldb, ldc;
  };
  // Validates the row-major description and translates it to the column-major call.
  static Args checked(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                      int64_t ldc) {
    check<ShapeError>(M >= 0 && N >= 0 && K >= 0, "Gemm<cuda>: negative size M=", M, " N=", N, " K=", K);
    const int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    check<ShapeError>(lda >= std::max<int64_t>(1, a_cols) && ldb >= std::max<int64_t>(1, b_cols) &&
                          ldc >= std::max<int64_t>(1, N),
                      "Gemm<cuda>: row strides lda=", lda, " ldb=", ldb, " ldc=", ldc,
                      " are smaller than the rows of A (", a_cols, "), B (", b_cols, ") or C (", N, ")");
    using cuda_detail::to_int;
    return Args{trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                to_int(N, "N"), to_int(M, "M"), to_int(K, "K"),
                to_int(lda, "lda"), to_int(ldb, "ldb"), to_int(ldc, "ldc")};
  }
};

}  // namespace rfcf::ops
