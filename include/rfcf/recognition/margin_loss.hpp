#pragma once
// MarginLoss<Policy, T, D>: the cosine-level part of a margin head. Takes the raw cosines
// [B, C] (before the clamp), applies clamp + margin policy + scale, and returns the mean softmax
// cross-entropy; backward() returns dL/d(raw cosines). For CurricularFace it owns the buffer t
// and updates it before use (recognition.md 2.2 step 8), without gradient.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/recognition/margin_functors.hpp"
#include "rfcf/recognition/margin_policies.hpp"

namespace rfcf::recognition {

// Where the batch mean of c_y that updates t comes from (recognition.md 2.5).
enum class TMode {
  local,   // this device's batch only (the official runs; the default)
  global,  // sum and count all-reduced over ranks by the reducer hook before the EMA
};

// All-reduces (sums) the two values in place across ranks. Used by TMode::global.
using TReducer = std::function<void(double& sum, double& count)>;

template <class Policy, class T, class D>
class MarginLoss {
 public:
  using value_type = T;
  using device_type = D;

  explicit MarginLoss(Policy policy = Policy{}, TMode mode = TMode::local)
      : policy_(policy), t_mode_(mode), t_(zeros<T, D>(Shape{1})) {}

  // Mean cross-entropy of the margin logits. In training mode t is updated first (CurricularFace).
  T forward(const Tensor<T, D>& raw_cos, const std::vector<int64_t>& labels) {
    check_rank(raw_cos, 2, "MarginLoss::forward (cosines [B, C])");
    const int64_t B = raw_cos.dim(0), C = raw_cos.dim(1);
    check<ShapeError>(B > 0 && C > 0, "MarginLoss::forward: empty cosine matrix ", raw_cos.shape().str());
    check<ShapeError>(static_cast<int64_t>(labels.size()) == B, "MarginLoss::forward: ", labels.size(),
                      " labels for a batch of ", B);
    for (size_t i = 0; i < labels.size(); ++i)
      check<ShapeError>(labels[i] >= 0 && labels[i] < C, "MarginLoss::forward: label ", labels[i],
                        " of sample ", i, " is outside [0, ", C, ")");

    raw_ = raw_cos;
    labels_ = Tensor<int64_t, D>::from_host(Shape{B}, labels);
    c_y_ = Tensor<T, D>(Shape{B});
    Executor<D>::for_each(B, functors::TargetCosine<T>{raw_.data(), labels_.data(), c_y_.data(), C});
    if constexpr (Policy::uses_t) {
      if (training_) update_t();
    }
    const T t = t_value_as_t();

    logits_ = Tensor<T, D>(Shape{B, C});
    dfdc_ = Tensor<T, D>(Shape{B, C});
    Executor<D>::for_each(B * C, functors::MarginLogits<Policy, T>{policy_, raw_.data(), labels_.data(), c_y_.data(),
                                                                   t, logits_.data(), dfdc_.data(), C});
    lse_ = Tensor<T, D>(Shape{B});
    Tensor<T, D> row_loss(Shape{B}), correct(Shape{B});
    Executor<D>::for_each(B, functors::RowSoftmaxCrossEntropy<T>{logits_.data(), raw_.data(), labels_.data(),
                                                                 lse_.data(), row_loss.data(), correct.data(), C});
    double loss = 0, hits = 0;
    for (T v : row_loss.to_vector()) loss += static_cast<double>(v);
    for (T v : correct.to_vector()) hits += static_cast<double>(v);
    accuracy_ = hits / static_cast<double>(B);
    has_cache_ = nn::grad_enabled();
    return static_cast<T>(loss / static_cast<double>(B));
  }

  // dL/d(raw cosines) [B, C] for an upstream gradient dloss of the mean loss.
  Tensor<T, D> backward(T dloss = T(1)) {
    check<Error>(has_cache_, "MarginLoss::backward called without a forward in grad mode");
    const int64_t B = raw_.dim(0), C = raw_.dim(1);
    Tensor<T, D> g(Shape{B, C});
    const T scale = static_cast<T>(policy_.s * static_cast<double>(dloss) / static_cast<double>(B));
    Executor<D>::for_each(B * C, functors::MarginCrossEntropyGrad<T>{logits_.data(), lse_.data(), dfdc_.data(),
                                                                     labels_.data(), g.data(), C, scale});
    return g;
  }

  // Logits of the last forward: with margin (what the loss saw) and s * clamp(cos) (origin_cos).
  const Tensor<T, D>& margin_logits() const { return logits_; }
  Tensor<T, D> origin_logits() const {
    check<Error>(raw_.defined(), "MarginLoss::origin_logits before any forward");
    Tensor<T, D> out(raw_.shape());
    Executor<D>::for_each(out.numel(), functors::ScaledClamp<T>{raw_.data(), out.data(), static_cast<T>(policy_.s)});
    return out;
  }
  // Fraction of the last batch whose argmax of origin_cos is the label.
  double accuracy() const { return accuracy_; }

  const Policy& policy() const { return policy_; }
  // The adaptive t (CurricularFace; 0 and unused for the other policies).
  Tensor<T, D>& t() { return t_; }
  double t_value() const { return static_cast<double>(t_.to_vector()[0]); }
  void set_t(double v) {
    const T x = static_cast<T>(v);
    check<ShapeError>(t_.numel() == 1, "MarginLoss: buffer t has shape ", t_.shape().str(), ", expected [1]");
    DeviceCopy<D, cpu>::copy(t_.data(), &x, sizeof(T));  // in place: visitors may hold the tensor
  }
  TMode t_mode() const { return t_mode_; }
  void set_t_mode(TMode m) { t_mode_ = m; }
  // Hook for TMode::global: called with the local (sum of c_y, count); must sum both over ranks.
  void set_t_reducer(TReducer r) { reducer_ = std::move(r); }

  void train(bool on = true) { training_ = on; }
  void eval() { training_ = false; }
  bool is_training() const { return training_; }

 private:
  void update_t() {
    double sum = 0;
    for (T v : c_y_.to_vector()) sum += static_cast<double>(v);
    double count = static_cast<double>(c_y_.numel());
    if (t_mode_ == TMode::global) {
      check<ConfigError>(static_cast<bool>(reducer_),
                         "MarginLoss: t mode 'global' needs a reducer (set_t_reducer) to all-reduce sum and count");
      reducer_(sum, count);
      check<NumericError>(count > 0, "MarginLoss: the t reducer returned a count of ", count);
    }
    // Stored in T like the PyTorch buffer; the EMA itself is evaluated in double.
    const double old_t = static_cast<double>(static_cast<T>(t_value()));
    set_t(policy_.updated_t(sum / count, old_t));
  }
  T t_value_as_t() const {
    if constexpr (Policy::uses_t) return t_.to_vector()[0];
    else return T(0);
  }

  Policy policy_;
  TMode t_mode_;
  TReducer reducer_;
  Tensor<T, D> t_;
  bool training_ = true;
  bool has_cache_ = false;
  double accuracy_ = 0;
  Tensor<T, D> raw_, c_y_, logits_, dfdc_, lse_;
  Tensor<int64_t, D> labels_;
};

}  // namespace rfcf::recognition
