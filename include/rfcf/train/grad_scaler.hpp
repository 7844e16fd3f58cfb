#pragma once
// GradScaler: dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler semantics).
// fp16 keeps values above ~6e-8 only; scaling the loss gradient by a large factor keeps small
// gradients from flushing to zero in 16-bit convolutions and GEMMs. Per optimizer step:
//
//   backward(loss_gradient * scaler.scale())        // e.g. head.backward(T(scaler.scale()))
//   bool found_inf = scaler.unscale_and_check(flat.grads());   // grads /= scale, any Inf/NaN?
//   if (!found_inf) optimizer.step();                 // an overflowed step is skipped
//   scaler.update(found_inf);
//
// update(): an overflow multiplies the scale by backoff_factor (0.5) and restarts the count;
// growth_interval (2000) consecutive finite steps multiply it by growth_factor (2).
// State (scale, growth tracker) goes into checkpoints through visit_state (Checkpoint::optimizer).
#include <cmath>
#include <cstdint>
#include <string>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/functors/elementwise.hpp"
#include "rfcf/ops/reduce.hpp"

namespace rfcf::train {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions o = {}) : o_(o), scale_(Shape{1}) {
    check<ConfigError>(o.init_scale > 0 && std::isfinite(o.init_scale), "GradScaler: init_scale must be positive and "
                       "finite, got ", o.init_scale);
    check<ConfigError>(o.growth_factor > 1, "GradScaler: growth_factor must be > 1, got ", o.growth_factor);
    check<ConfigError>(o.backoff_factor > 0 && o.backoff_factor < 1, "GradScaler: backoff_factor must be in (0, 1), "
                       "got ", o.backoff_factor);
    check<ConfigError>(o.growth_interval >= 1, "GradScaler: growth_interval must be >= 1, got ", o.growth_interval);
    scale_.data()[0] = o.init_scale;
  }

  // The factor to multiply the loss gradient by.
  double scale() const { return scale_.data()[0]; }
  int64_t growth_tracker() const { return growth_tracker_; }
  const GradScalerOptions& options() const { return o_; }

  // grads *= 1 / scale (in place, on the grads' device) and whether any element is Inf or NaN.
  // The check is one device reduction (sum in double: finite fp32 values cannot overflow it,
  // and any Inf/NaN makes it non-finite); nothing per element comes to the host.
  template <class T, class D>
  bool unscale_and_check(Tensor<T, D>& grads) const {
    if (grads.numel() == 0) return false;
    const T inv = static_cast<T>(1.0 / scale());
    Executor<D>::for_each(grads.numel(), ::rfcf::functors::Scale<T>{grads.data(), grads.data(), inv});
    return !std::isfinite(ops::sum(grads));
  }

  // Adjusts the scale after a step: back off on overflow, grow after growth_interval good steps.
  void update(bool found_inf) {
    if (found_inf) {
      scale_.data()[0] *= o_.backoff_factor;
      growth_tracker_ = 0;
      return;
    }
    if (++growth_tracker_ == o_.growth_interval) {
      const double grown = scale() * o_.growth_factor;
      if (std::isfinite(grown)) scale_.data()[0] = grown;
      growth_tracker_ = 0;
    }
  }

  // Checkpoint state: "<prefix>.scale" (float64 [1]) and counter "<prefix>.growth_tracker".
  template <class V>
  void visit_state(V& v, const std::string& prefix = "grad_scaler") {
    v.buffer(nn::join_name(prefix, "scale"), scale_);
    v.counter(nn::join_name(prefix, "growth_tracker"), growth_tracker_);
  }

 private:
  GradScalerOptions o_;
  Tensor<double, cpu> scale_;  // [1], a tensor so that checkpoints load into it
  int64_t growth_tracker_ = 0;
};

}  // namespace rfcf::train
