#pragma once
// MarginHead<Policy, T, D>: the classification head of face-recognition training
// (recognition.md 1-4). Holds the class matrix "weight" in the arcface_torch layout (C, d),
// normalises embeddings and class vectors, takes their cosines with one GEMM and applies the
// margin policy and softmax cross-entropy (MarginLoss). backward() returns dL/d(embeddings) and
// accumulates dL/d(weight) through the clamp and both L2 normalisations (recognition.md 2.3-2.4).
//
//   recognition::MarginHead<recognition::CurricularFace, float, cpu> head(512, num_classes);
//   auto out = head.forward(embeddings, labels);   // out.loss, out.accuracy, out.logits
//   Tensor<float, cpu> d_emb = head.backward();
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/gemm.hpp"
#include "rfcf/ops/mixed_precision.hpp"
#include "rfcf/recognition/margin_functors.hpp"
#include "rfcf/recognition/margin_loss.hpp"
#include "rfcf/recognition/margin_policies.hpp"

namespace rfcf::recognition {

enum class HeadInit {
  normal,          // N(0, init_std^2), std 0.01 in both reference codebases
  xavier_uniform,  // the CASIA MobileFaceNet ArcFace head
};

struct MarginHeadOptions {
  HeadInit init = HeadInit::normal;
  double init_std = 0.01;
  TMode t_mode = TMode::local;
  // Norms below eps are replaced by eps (F.normalize semantics). The references have no epsilon
  // (a zero vector gives NaN there); for any non-degenerate input the result is identical.
  double eps = 1e-12;
};

template <class T, class D>
struct MarginOutput {
  T loss;             // mean cross-entropy over the batch
  double accuracy;    // fraction of argmax(origin_cos) == label
  Tensor<T, D> logits;  // s * clamp(cos) without margin (origin_cos of the official code)
};

template <class Policy, class T, class D>
class MarginHead : public nn::LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using policy_type = Policy;

  MarginHead(int64_t embedding_size, int64_t num_classes, Policy policy = Policy{},
             MarginHeadOptions options = {}, Generator& gen = default_generator())
      : options_(options), weight_(Shape{checked(num_classes, "classes"), checked(embedding_size, "embedding size")}),
        loss_(policy, options.t_mode) {
    if (options.init == HeadInit::xavier_uniform) init::xavier_uniform(weight_.value, gen);
    else init::normal(weight_.value, gen, 0.0, options.init_std);
  }

  int64_t embedding_size() const { return weight_.value.dim(1); }
  int64_t num_classes() const { return weight_.value.dim(0); }

  MarginOutput<T, D> forward(const Tensor<T, D>& embeddings, const std::vector<int64_t>& labels) {
    check_rank(embeddings, 2, "MarginHead::forward (embeddings [B, d])");
    check<ShapeError>(embeddings.dim(1) == embedding_size(), "MarginHead::forward: embeddings ",
                      embeddings.shape().str(), " do not match the class matrix ", weight_.value.shape().str());
    const int64_t B = embeddings.dim(0), C = num_classes(), d = embedding_size();
    const T eps = static_cast<T>(options_.eps);

    e_hat_ = Tensor<T, D>(Shape{B, d});
    e_norm_ = Tensor<T, D>(Shape{B});
    Executor<D>::for_each(B, functors::RowL2Normalize<T>{embeddings.data(), e_hat_.data(), e_norm_.data(), d, eps});
    w_hat_ = Tensor<T, D>(Shape{C, d});
    w_norm_ = Tensor<T, D>(Shape{C});
    Executor<D>::for_each(C, functors::RowL2Normalize<T>{weight_.value.data(), w_hat_.data(), w_norm_.data(), d, eps});

    Tensor<T, D> cos(Shape{B, C});  // ê Ŵᵀ, in the thread's compute precision (fp32 result)
    precision_ = compute_precision_for<T>();
    ops::gemm<D>(precision_, false, true, B, C, d, T(1), e_hat_.data(), d, w_hat_.data(), d, T(0), cos.data(), C);

    loss_.train(is_training());
    MarginOutput<T, D> out{loss_.forward(cos, labels), 0.0, {}};
    out.accuracy = loss_.accuracy();
    out.logits = loss_.origin_logits();
    has_cache_ = nn::grad_enabled();
    if (!has_cache_) e_hat_ = w_hat_ = e_norm_ = w_norm_ = Tensor<T, D>();
    return out;
  }

  // dL/d(embeddings) for an upstream gradient dloss of the mean loss; accumulates dL/d(weight)
  // unless the weight is frozen.
  Tensor<T, D> backward(T dloss = T(1)) {
    check<Error>(has_cache_, "MarginHead::backward called without a forward in grad mode");
    const int64_t B = e_hat_.dim(0), C = num_classes(), d = embedding_size();
    const T eps = static_cast<T>(options_.eps);
    Tensor<T, D> g = loss_.backward(dloss);  // dL/dcos [B, C]

    Tensor<T, D> d_ehat(Shape{B, d});
    ops::gemm<D>(precision_, false, false, B, d, C, T(1), g.data(), C, w_hat_.data(), d, T(0), d_ehat.data(), d);
    Tensor<T, D> d_emb(Shape{B, d});
    Executor<D>::for_each(B, functors::RowL2NormalizeBackward<T>{e_hat_.data(), d_ehat.data(), e_norm_.data(),
                                                                 d_emb.data(), d, eps, false});
    if (!weight_.frozen) {
      Tensor<T, D> d_what(Shape{C, d});
      ops::gemm<D>(precision_, true, false, C, d, B, T(1), g.data(), C, e_hat_.data(), d, T(0), d_what.data(), d);
      Executor<D>::for_each(C, functors::RowL2NormalizeBackward<T>{w_hat_.data(), d_what.data(), w_norm_.data(),
                                                                   weight_.grad.data(), d, eps, true});
    }
    return d_emb;
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(nn::join_name(prefix, "weight"), weight_);
    if constexpr (Policy::uses_t) v.buffer(nn::join_name(prefix, "t"), loss_.t());
  }

  nn::Parameter<T, D>& weight() { return weight_; }
  MarginLoss<Policy, T, D>& loss() { return loss_; }
  const Policy& policy() const { return loss_.policy(); }
  // Logits with margin of the last forward (what the cross-entropy saw).
  const Tensor<T, D>& margin_logits() const { return loss_.margin_logits(); }

  // CurricularFace t: value, and the hook used by TMode::global.
  double t_value() const { return loss_.t_value(); }
  void set_t(double v) { loss_.set_t(v); }
  void set_t_mode(TMode m) { loss_.set_t_mode(m); }
  void set_t_reducer(TReducer r) { loss_.set_t_reducer(std::move(r)); }

  // Loads the class matrix from the arcface_torch layout (C, d) ...
  void load_weight(const Tensor<T, D>& w_cd) {
    check<ShapeError>(w_cd.shape() == weight_.value.shape(), "MarginHead::load_weight: got ", w_cd.shape().str(),
                      ", expected (C, d) = ", weight_.value.shape().str());
    weight_.value.copy_from(w_cd);
  }
  // ... or from the CurricularFace layout: `kernel` (d, C), one column per class.
  template <class D2>
  void load_kernel(const Tensor<T, D2>& kernel_dc) {
    weight_.value.copy_from(kernel_to_weight(kernel_dc.template to<cpu>(), embedding_size(), num_classes())
                                .template to<D>());
  }
  // (d, C) -> (C, d) on the host.
  static Tensor<T, cpu> kernel_to_weight(const Tensor<T, cpu>& kernel, int64_t d, int64_t C) {
    check<ShapeError>(kernel.rank() == 2 && kernel.dim(0) == d && kernel.dim(1) == C,
                      "MarginHead::load_kernel: kernel has shape ", kernel.shape().str(), ", expected (d, C) = [", d,
                      ", ", C, "]");
    Tensor<T, cpu> w(Shape{C, d});
    for (int64_t k = 0; k < d; ++k)
      for (int64_t j = 0; j < C; ++j) w.data()[j * d + k] = kernel.data()[k * C + j];
    return w;
  }

 private:
  static int64_t checked(int64_t n, const char* what) {
    check<ConfigError>(n > 0, "MarginHead: number of ", what, " must be positive, got ", n);
    return n;
  }

  MarginHeadOptions options_;
  nn::Parameter<T, D> weight_;
  MarginLoss<Policy, T, D> loss_;
  bool has_cache_ = false;
  ComputePrecision precision_ = ComputePrecision::fp32;  // of the last forward
  Tensor<T, D> e_hat_, e_norm_, w_hat_, w_norm_;
};

}  // namespace rfcf::recognition
