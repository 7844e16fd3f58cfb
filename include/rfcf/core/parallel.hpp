#pragma once
// Host threading. rfcf uses OpenMP when the build enables it (the rfcf::rfcf target does
// when OpenMP is found); without it everything runs on one thread.
#include <algorithm>
#include <cstdint>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace rfcf {

inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the number of host threads used by rfcf (and by Eigen, which uses OpenMP too).
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  if (n > 0) omp_set_num_threads(n);
#else
  (void)n;
#endif
}

// Calls f(begin, end) on disjoint chunks of [0, n), in parallel when the work is large
// enough (grain = minimum items per chunk).
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#if defined(_OPENMP)
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, n / std::max<int64_t>(grain, 1)));
  if (chunks > 1) {
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) f(n * c / chunks, n * (c + 1) / chunks);
    return;
  }
#endif
  f(int64_t{0}, n);
}

}  // namespace rfcf
