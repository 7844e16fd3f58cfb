#pragma once
// Losses return host scalars; backward(grad_out) returns the gradient w.r.t. the prediction,
// scaled by the upstream scalar gradient grad_out.
//   CrossEntropyLoss: mean over the batch of -log softmax(logits)[label] (torch.nn.CrossEntropyLoss).
//   SmoothL1Loss(beta, reduction): torch.nn.SmoothL1Loss.
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/functors/loss.hpp"
#include "rfcf/ops/reduce.hpp"
#include "rfcf/ops/softmax.hpp"

namespace rfcf::nn {

enum class Reduction { mean, sum };

template <class T, class D>
class CrossEntropyLoss {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  // logits [N, C] (N >= 1), labels N class indices in [0, C).
  T forward(const tensor_type& logits, const std::vector<int64_t>& labels) {
    check<ShapeError>(logits.rank() == 2 && logits.dim(0) > 0 && logits.dim(1) > 0,
                      "CrossEntropyLoss: expected logits [N, C] with N, C > 0, got ", logits.shape().str());
    const int64_t n = logits.dim(0), c = logits.dim(1);
    check<ShapeError>(static_cast<int64_t>(labels.size()) == n, "CrossEntropyLoss: ", labels.size(),
                      " labels for logits ", logits.shape().str());
    for (size_t r = 0; r < labels.size(); ++r)
      check<Error>(labels[r] >= 0 && labels[r] < c, "CrossEntropyLoss: label ", labels[r], " of sample ", r,
                   " is outside [0, ", c, ")");
    labels_ = Tensor<int64_t, D>::from_host(Shape{n}, labels);
    logp_ = ops::log_softmax(logits);
    tensor_type nll(Shape{n});
    Executor<D>::for_each(n, functors::GatherNll<T>{logp_.data(), labels_.data(), nll.data(), c});
    return static_cast<T>(ops::sum(nll) / static_cast<double>(n));
  }

  // dL/dlogits = (softmax - onehot) * grad_out / N.
  tensor_type backward(T grad_out = T(1)) {
    check<Error>(logp_.defined(), "CrossEntropyLoss::backward called before forward");
    const int64_t n = logp_.dim(0), c = logp_.dim(1);
    tensor_type d(logp_.shape());
    Executor<D>::for_each(logp_.numel(), functors::CrossEntropyBackward<T>{
                                             logp_.data(), labels_.data(), d.data(), c,
                                             static_cast<T>(static_cast<double>(grad_out) / static_cast<double>(n))});
    return d;
  }

 private:
  tensor_type logp_;
  Tensor<int64_t, D> labels_;
};

template <class T, class D>
class SmoothL1Loss {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit SmoothL1Loss(double beta = 1.0, Reduction reduction = Reduction::mean)
      : beta_(static_cast<T>(beta)), reduction_(reduction) {
    check<ConfigError>(beta >= 0, "SmoothL1Loss: beta must be >= 0, got ", beta);
  }

  T forward(const tensor_type& pred, const tensor_type& target) {
    check_same_shape(pred, target, "SmoothL1Loss");
    tensor_type loss(pred.shape());
    Executor<D>::for_each(pred.numel(), functors::SmoothL1Forward<T>{pred.data(), target.data(), loss.data(), beta_});
    pred_ = pred;
    target_ = target;
    const double s = ops::sum(loss);
    if (reduction_ == Reduction::sum) return static_cast<T>(s);
    // PyTorch returns NaN for the mean of an empty tensor; 0 is more useful for a loss term.
    return pred.numel() > 0 ? static_cast<T>(s / static_cast<double>(pred.numel())) : T(0);
  }

  tensor_type backward(T grad_out = T(1)) {
    check<Error>(pred_.defined(), "SmoothL1Loss::backward called before forward");
    double scale = static_cast<double>(grad_out);
    if (reduction_ == Reduction::mean && pred_.numel() > 0) scale /= static_cast<double>(pred_.numel());
    tensor_type d(pred_.shape());
    Executor<D>::for_each(pred_.numel(), functors::SmoothL1Backward<T>{pred_.data(), target_.data(), d.data(), beta_,
                                                                       static_cast<T>(scale)});
    return d;
  }

  double beta() const { return static_cast<double>(beta_); }
  Reduction reduction() const { return reduction_; }

 private:
  T beta_;
  Reduction reduction_;
  tensor_type pred_, target_;
};

}  // namespace rfcf::nn
