#pragma once
// Optimizer and gradient math as RFCF_HD functors: Executor<cpu> runs them in tests and CUDA
// kernels run the same bodies. Each functor handles one element i of the flat parameter
// buffer; `mask` (optional, nullptr = every element decays and is trainable) holds per-element
// flags built from the parameter segments.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::train::functors {

// Bits of the per-element flag mask.
inline constexpr uint8_t kDecay = 1;   // weight decay applies
inline constexpr uint8_t kFrozen = 2;  // never updated (frozen parameters and alignment padding)

RFCF_HD inline uint8_t flags_at(const uint8_t* mask, int64_t i) { return mask ? mask[i] : kDecay; }

// torch.optim.SGD for one element: g = grad + wd*p; buf = g (first step) or
// momentum*buf + (1-dampening)*g; g = g + momentum*buf (Nesterov) or buf; p -= lr*g.
// buf == nullptr means momentum 0 (no buffer).
template <class T>
struct SgdStep {
  T* param;
  const T* grad;
  T* buf;
  const uint8_t* mask;
  T lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;

  RFCF_HD void operator()(int64_t i) const {
    const uint8_t f = flags_at(mask, i);
    if (f & kFrozen) return;
    T d = grad[i];
    if ((f & kDecay) && weight_decay != T(0)) d = d + weight_decay * param[i];
    if (buf) {
      const T b = first_step ? d : momentum * buf[i] + (T(1) - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    param[i] = param[i] - lr * d;
  }
};

// torch.optim.AdamW (amsgrad=False) for one element: decoupled decay p *= 1 - lr*wd, then
// m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; p -= step_size * m / (sqrt(v)/sqrt(bc2) + eps)
// with step_size = lr/bc1, bc_k = 1 - b_k^step (computed on the host per step).
template <class T>
struct AdamWStep {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  const uint8_t* mask;
  T decay_factor;  // 1 - lr*wd
  T beta1, beta2, step_size, bias_correction2_sqrt, eps;

  RFCF_HD void operator()(int64_t i) const {
    const uint8_t f = flags_at(mask, i);
    if (f & kFrozen) return;
    const T g = grad[i];
    T p = param[i];
    if (f & kDecay) p = p * decay_factor;
    const T m = beta1 * exp_avg[i] + (T(1) - beta1) * g;
    const T v = beta2 * exp_avg_sq[i] + (T(1) - beta2) * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    using std::sqrt;
    const T denom = sqrt(v) / bias_correction2_sqrt + eps;
    param[i] = p - step_size * (m / denom);
  }
};

// partial[c] = sum of grad[i]^2 over chunk c (trainable elements only), accumulated in double.
// A fixed chunking makes the total independent of the thread count.
template <class T>
struct SumSquaresChunk {
  const T* grad;
  const uint8_t* mask;
  double* partial;
  int64_t n, chunk;

  RFCF_HD void operator()(int64_t c) const {
    const int64_t begin = c * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    double s = 0;
    for (int64_t i = begin; i < end; ++i) {
      if (flags_at(mask, i) & kFrozen) continue;
      const double g = static_cast<double>(grad[i]);
      s += g * g;
    }
    partial[c] = s;
  }
};

// grad[i] *= factor on trainable elements.
template <class T>
struct ScaleTrainable {
  T* grad;
  const uint8_t* mask;
  T factor;
  RFCF_HD void operator()(int64_t i) const {
    if (flags_at(mask, i) & kFrozen) return;
    grad[i] = grad[i] * factor;
  }
};

}  // namespace rfcf::train::functors
