#pragma once
// Seeded random numbers and PyTorch's default initialisation schemes. Values are drawn on
// the host (deterministic for a seed, independent of the device) and copied to the device.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "rfcf/core/tensor.hpp"

namespace rfcf {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  void seed(uint64_t s) { engine_.seed(s); }
  // Uniform in [a, b).
  double uniform(double a = 0.0, double b = 1.0) {
    // 53 random bits -> [0, 1), independent of the standard library's distribution code.
    const double u = static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);
    return a + (b - a) * u;
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    // Box-Muller on our own uniforms keeps results identical across standard libraries.
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Uniform integer in [lo, hi] (inclusive).
  int64_t integer(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(uniform() * static_cast<double>(hi - lo + 1));
  }
  uint64_t next_u64() { return engine_(); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

namespace init {

// fan_in of a weight [out, in/groups, kh, kw] or [out, in] as PyTorch computes it.
inline int64_t fan_in(const Shape& s) {
  int64_t f = s.rank() > 1 ? s[1] : 1;
  for (int i = 2; i < s.rank(); ++i) f *= s[i];
  return f;
}
inline int64_t fan_out(const Shape& s) {
  int64_t f = s.rank() > 0 ? s[0] : 1;
  for (int i = 2; i < s.rank(); ++i) f *= s[i];
  return f;
}

template <class T, class D, class F>
void fill_host(Tensor<T, D>& t, F&& draw) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  for (auto& x : v) x = static_cast<T>(draw());
  DeviceCopy<D, cpu>::copy(t.data(), v.data(), t.bytes());
}

template <class T, class D>
void uniform(Tensor<T, D>& t, Generator& g, double a, double b) {
  fill_host(t, [&] { return g.uniform(a, b); });
}
template <class T, class D>
void normal(Tensor<T, D>& t, Generator& g, double mean, double stddev) {
  fill_host(t, [&] { return g.normal(mean, stddev); });
}
template <class T, class D>
void constant(Tensor<T, D>& t, double value) {
  fill_host(t, [&] { return value; });
}

// torch.nn.init.kaiming_uniform_(w, a) with fan_in mode and leaky_relu gain; conv and
// linear layers use a = sqrt(5), i.e. bound = 1/sqrt(fan_in).
template <class T, class D>
void kaiming_uniform(Tensor<T, D>& w, Generator& g, double a = std::sqrt(5.0)) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = std::sqrt(3.0) * gain / std::sqrt(static_cast<double>(fan_in(w.shape())));
  uniform(w, g, -bound, bound);
}
// torch.nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu').
template <class T, class D>
void kaiming_normal_fan_out(Tensor<T, D>& w, Generator& g) {
  normal(w, g, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out(w.shape()))));
}
// Default bias of conv/linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <class T, class D>
void bias_uniform(Tensor<T, D>& b, Generator& g, int64_t fan_in_of_weight) {
  const double bound = fan_in_of_weight > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in_of_weight)) : 0.0;
  uniform(b, g, -bound, bound);
}
template <class T, class D>
void xavier_uniform(Tensor<T, D>& w, Generator& g) {
  const double bound = std::sqrt(6.0 / static_cast<double>(fan_in(w.shape()) + fan_out(w.shape())));
  uniform(w, g, -bound, bound);
}

}  // namespace init
}  // namespace rfcf

namespace rfcf {
// The generator layers use when none is passed (seeded 0; reseed for reproducible models).
inline Generator& default_generator() {
  static Generator g(0);
  return g;
}
}  // namespace rfcf
