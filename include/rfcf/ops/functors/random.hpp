#pragma once
// Counter-based random numbers for device code: value i of stream `key` is a pure function of
// (key, i), so masks are identical on every device and every thread count.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// SplitMix64 finaliser: a bijective 64-bit mix with good avalanche.
RFCF_HD inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform double in [0, 1) for index i of stream key.
RFCF_HD inline double uniform01(uint64_t key, uint64_t i) {
  return static_cast<double>(mix64(key ^ mix64(i)) >> 11) * (1.0 / 9007199254740992.0);
}

// Inverted dropout: mask = u >= p ? 1 / (1 - p) : 0, y = x * mask.
template <class T>
struct DropoutForward {
  const T* x;
  T* y;
  T* mask;
  uint64_t key;
  double p;
  T keep_scale;
  RFCF_HD void operator()(int64_t i) const {
    const T m = uniform01(key, static_cast<uint64_t>(i)) >= p ? keep_scale : T(0);
    mask[i] = m;
    y[i] = x[i] * m;
  }
};

}  // namespace rfcf::functors
