#pragma once
// ||a - b|| / ||b|| (L2), and random test data.
#include <cmath>
#include <cstddef>
#include <vector>

#include "rfcf/core/random.hpp"

namespace rfcf::test {

template <class T>
double relative_error(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    if (std::isnan(d)) return INFINITY;
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class T>
std::vector<T> random_vector(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(g.uniform(lo, hi));
  return v;
}

}  // namespace rfcf::test
