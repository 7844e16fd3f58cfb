#pragma once
// Whole-model gradient utilities over FlatParameters: global L2 norm, clipping by norm
// (torch.nn.utils.clip_grad_norm_ semantics) and scaling (averaging micro-batch gradients).
// Frozen parameters are left out, like PyTorch parameters without requires_grad.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/train/functors.hpp"
#include "rfcf/train/parameter_flags.hpp"

namespace rfcf::train {

// sqrt(sum of squared gradients) over all trainable parameters, accumulated in double.
template <class T, class D>
double grad_norm(nn::FlatParameters<T, D>& params) {
  const int64_t n = params.numel();
  if (n == 0) return 0.0;
  ParameterFlags<D> flags(params.segments(), n);
  const int64_t chunks = std::min<int64_t>(n, 1024);
  const int64_t chunk = (n + chunks - 1) / chunks;
  Tensor<double, D> partial(Shape{chunks});
  Executor<D>::for_each(chunks, functors::SumSquaresChunk<T>{params.grads().data(), flags.data(), partial.data(), n, chunk});
  double total = 0;
  for (double p : partial.to_vector()) total += p;
  return std::sqrt(total);
}

// Multiplies every trainable gradient by `factor`.
template <class T, class D>
void scale_grads(nn::FlatParameters<T, D>& params, double factor) {
  const int64_t n = params.numel();
  if (n == 0) return;
  ParameterFlags<D> flags(params.segments(), n);
  Executor<D>::for_each(n, functors::ScaleTrainable<T>{params.grads().data(), flags.data(), static_cast<T>(factor)});
}

// torch.nn.utils.clip_grad_norm_(parameters, max_norm) with norm_type 2: scales all
// gradients by min(1, max_norm / (norm + 1e-6)) and returns the norm before clipping.
// A non-finite norm propagates into the gradients, as in PyTorch; check the returned value.
template <class T, class D>
double clip_grad_norm(nn::FlatParameters<T, D>& params, double max_norm) {
  check<ConfigError>(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const double norm = grad_norm(params);
  const double coef = max_norm / (norm + 1e-6);
  const double clamped = std::isnan(coef) ? coef : std::min(coef, 1.0);
  scale_grads(params, clamped);
  return norm;
}

// Gradient accumulation over micro-batches. Layers' backward passes ADD into the gradients,
// so a large batch split into k micro-batches is:
//   acc.begin();                                  // zero the gradients
//   for each micro-batch: forward, loss, backward; acc.add(samples);
//   acc.finish();                                 // gradients /= k (or the sample-weighted mean)
//   optimizer.step();
// finish() averages the per-micro-batch gradients. When losses are means over unequal
// micro-batch sizes, scale each micro-batch's loss gradient by loss_weight(samples) (which is
// samples / total) before backward and call finish(/*average=*/false) instead.
template <class T, class D>
class GradAccumulator {
 public:
  explicit GradAccumulator(nn::FlatParameters<T, D>& params, int64_t total_samples = 0)
      : params_(&params), total_samples_(total_samples) {}

  void begin() {
    params_->zero_grad();
    micro_batches_ = 0;
    samples_ = 0;
  }
  void add(int64_t samples = 1) {
    check<ConfigError>(samples > 0, "GradAccumulator::add: micro-batch size must be > 0, got ", samples);
    ++micro_batches_;
    samples_ += samples;
  }
  // Weight of a micro-batch of `samples` in the full-batch mean (needs total_samples).
  double loss_weight(int64_t samples) const {
    check<ConfigError>(total_samples_ > 0, "GradAccumulator::loss_weight needs the total number of samples");
    return static_cast<double>(samples) / static_cast<double>(total_samples_);
  }
  void finish(bool average = true) {
    check<Error>(micro_batches_ > 0, "GradAccumulator::finish: no micro-batch was added");
    if (average && micro_batches_ > 1) scale_grads(*params_, 1.0 / static_cast<double>(micro_batches_));
  }
  int64_t micro_batches() const { return micro_batches_; }
  int64_t samples() const { return samples_; }

 private:
  nn::FlatParameters<T, D>* params_;
  int64_t total_samples_ = 0;
  int64_t micro_batches_ = 0, samples_ = 0;
};

}  // namespace rfcf::train
