#pragma once
// Row-major GEMM on the host. float/double go to OpenBLAS when the build found it
// (RFCF_HAVE_OPENBLAS, set by CMake; about 1.3-2x faster than Eigen's GEMM on the conv shapes,
// see docs/ops.md); otherwise, and for other types, to Eigen.
// Threading: OpenBLAS is switched to one thread and rfcf splits large products over its
// OpenMP threads itself, so GEMMs called inside rfcf's parallel loops never oversubscribe.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "rfcf/core/device.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/ops/gemm.hpp"

#if defined(RFCF_HAVE_OPENBLAS)
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

namespace rfcf::ops {

namespace cpu_detail {

template <class T>
void eigen_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
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

#if defined(RFCF_HAVE_OPENBLAS)
inline void openblas_single_threaded() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

template <class T>
void blas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  const auto la = static_cast<int>(lda), lb = static_cast<int>(ldb), lc = static_cast<int>(ldc);
  if constexpr (std::is_same_v<T, float>) cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  else cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
}

// Splits C into column blocks (or row blocks when C is tall) over the OpenMP threads.
template <class T>
void parallel_blas_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                        int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  openblas_single_threaded();
  constexpr int64_t kMinFlopsPerThread = int64_t{1} << 22;
#if defined(_OPENMP)
  const int64_t threads = omp_in_parallel() ? 1 : num_threads();  // already inside one of our parallel loops
#else
  const int64_t threads = 1;
#endif
  const int64_t blocks = std::min<int64_t>(threads, std::max<int64_t>(1, M * N * K / kMinFlopsPerThread));
  if (blocks <= 1) return blas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const bool split_columns = N >= M;
  const int64_t extent = split_columns ? N : M;
  parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      // block boundaries on multiples of 16 keep the kernels' vector tiles whole
      const int64_t lo = std::min(extent, (extent * b / blocks + 15) / 16 * 16);
      const int64_t hi = b + 1 == blocks ? extent : std::min(extent, (extent * (b + 1) / blocks + 15) / 16 * 16);
      if (hi <= lo) continue;
      if (split_columns) {
        const T* Bb = trans_b ? B + lo * ldb : B + lo;
        blas_gemm(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
      } else {
        const T* Ab = trans_a ? A + lo : A + lo * lda;
        blas_gemm(trans_a, trans_b, hi - lo, N, K, alpha, Ab, lda, B, ldb, beta, C + lo * ldc, ldc);
      }
    }
  });
}
#endif

}  // namespace cpu_detail

template <>
struct Gemm<cpu> {
  template <class T>
  static void run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
#if defined(RFCF_HAVE_OPENBLAS)
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      if (M > 0 && N > 0 && K > 0)
        return cpu_detail::parallel_blas_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
#endif
    cpu_detail::eigen_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
};

}  // namespace rfcf::ops
