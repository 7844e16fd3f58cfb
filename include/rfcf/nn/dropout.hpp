#pragma once
// Dropout(p, seed): inverted dropout as torch.nn.Dropout. Training: y = x * mask with mask 0 with
// probability p, else 1 / (1 - p); eval (or p = 0): identity. The mask of forward call k is a
// pure function of (seed, k, element index) (counter-based, device- and thread-independent);
// seed(s) restarts the sequence. Backward multiplies by the stored mask.
#include <cstdint>
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/functors/random.hpp"

namespace rfcf::nn {

template <class T, class D>
class Dropout : public LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit Dropout(double p = 0.5, uint64_t seed = 0) : p_(p), seed_(seed) {
    check<ConfigError>(p >= 0.0 && p <= 1.0, "Dropout: p must be in [0, 1], got ", p);
  }

  tensor_type forward(const tensor_type& x) {
    forwarded_ = grad_enabled();
    mask_ = tensor_type();
    if (!training_ || p_ == 0.0) return x;
    tensor_type y(x.shape()), mask(x.shape());
    const T keep_scale = p_ < 1.0 ? static_cast<T>(1.0 / (1.0 - p_)) : T(0);
    const uint64_t key = functors::mix64(seed_) ^ functors::mix64(~calls_);
    ++calls_;
    Executor<D>::for_each(x.numel(), functors::DropoutForward<T>{x.data(), y.data(), mask.data(), key, p_, keep_scale});
    if (forwarded_) mask_ = mask;
    return y;
  }

  tensor_type backward(const tensor_type& dy) {
    check<Error>(forwarded_, "Dropout::backward called without a forward in grad mode");
    if (!mask_.defined()) return dy;  // the forward was the identity
    return ops::multiply(dy, mask_);
  }

  // Restarts the mask sequence (the next forward uses the first mask of `seed`).
  void seed(uint64_t s) {
    seed_ = s;
    calls_ = 0;
  }
  double p() const { return p_; }
  // The mask of the last training forward in grad mode (undefined when it was the identity).
  const tensor_type& mask() const { return mask_; }

 private:
  double p_;
  uint64_t seed_;
  uint64_t calls_ = 0;
  bool forwarded_ = false;
  tensor_type mask_;
};

}  // namespace rfcf::nn
