#pragma once
// RetinaFace MultiBoxLoss with hard negative mining, retinaface.md section 7:
//   L = loc_weight * L_loc + L_conf + L_landm
// Predictions are the RetinaFaceOutput of the model: loc [B, A, 4], conf logits [B, A, 2],
// landms [B, A, 10]; backward() returns gradients of L in the same layout, ready for
// RetinaFace::backward.
//
// Everything runs on the predictions' device: matching (matching_device.hpp; only the packed
// ground truth is uploaded, priors given on the host are cached there), the per-prior losses
// (functors/multibox.hpp), the per-image negative ranking (ops::SortOp<D>, a CUB segmented radix
// sort on cuda) and the gradients. Only per-image positive counts and scalar sums come back.
//
// Ranking uses a STABLE descending sort of the mining loss, so among exactly tied losses the
// lower prior index ranks first (the reference sort is unstable: it differs only on exact ties).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/detection/matching.hpp"
#include "rfcf/detection/matching_device.hpp"
#include "rfcf/models/retinaface.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/functors/multibox.hpp"
#include "rfcf/ops/reduce.hpp"
#include "rfcf/ops/sort.hpp"

namespace rfcf::detection {

struct MultiBoxLossOptions {
  MatchOptions match{};
  int64_t negpos_ratio = 7;
  double loc_weight = 2.0;
};

template <class T>
struct MultiBoxLossParts {
  T loc = 0, conf = 0, landm = 0, total = 0;
  int64_t num_pos = 0;        // priors with conf_t != 0 (N before the max with 1)
  int64_t num_pos_landm = 0;  // priors with conf_t > 0 (N1 before the max with 1)
  int64_t num_neg = 0;        // mined negatives that are not positives
};

template <class T, class D>
class MultiBoxLoss {
 public:
  using tensor_type = Tensor<T, D>;

  explicit MultiBoxLoss(MultiBoxLossOptions o = {}) : options_(o) {
    check<ConfigError>(o.negpos_ratio >= 0, "MultiBoxLoss: negpos_ratio ", o.negpos_ratio, " must be >= 0");
  }
  const MultiBoxLossOptions& options() const { return options_; }

  // targets[b]: rows of kFaceFields values (normalised) for image b; priors [A, 4] (on the host:
  // other devices keep a copy, uploaded again only when the values change).
  // ignored (optional, same layout): faces that must not be learnt as faces nor as background
  // (e.g. faces below the size threshold of a progressive schedule): they take no part in
  // matching, and priors whose IoU with one of them reaches the match threshold are never mined
  // as negatives (unless matched to a face in `targets`).
  template <class U>
  MultiBoxLossParts<T> forward(const models::RetinaFaceOutput<T, D>& pred, const std::vector<std::vector<U>>& targets,
                               const Tensor<float, cpu>& priors,
                               const std::vector<std::vector<U>>* ignored = nullptr) {
    if constexpr (std::is_same_v<D, cpu>) {
      return forward_on_device(pred, targets, priors, ignored);
    } else {
      return forward_on_device(pred, targets, device_priors(priors), ignored);
    }
  }
  // The same with the priors already on device D.
  template <class U>
    requires(!std::is_same_v<D, cpu>)
  MultiBoxLossParts<T> forward(const models::RetinaFaceOutput<T, D>& pred, const std::vector<std::vector<U>>& targets,
                               const Tensor<float, D>& priors,
                               const std::vector<std::vector<U>>* ignored = nullptr) {
    return forward_on_device(pred, targets, priors, ignored);
  }

  // Gradients of the last forward's total loss (times `scale`, e.g. a loss-scaling factor).
  models::RetinaFaceOutput<T, D> backward(T scale = T(1)) const {
    check<Error>(has_grad_, "MultiBoxLoss::backward called before forward");
    return {scaled(dloc_, scale), scaled(dconf_, scale), scaled(dlandm_, scale)};
  }

  // Mined negative prior indices (ascending, positives excluded) per image of the last forward
  // (copied from the device on the first call: for tests and inspection).
  const std::vector<std::vector<int64_t>>& negatives() const {
    if (negatives_.empty() && has_grad_) {
      const std::vector<char> sel = selected_.to_vector(), pos = pos_.to_vector();
      const int64_t B = static_cast<int64_t>(sel.size()) / priors_per_image_;
      negatives_.assign(static_cast<size_t>(B), {});
      for (int64_t b = 0; b < B; ++b)
        for (int64_t p = 0; p < priors_per_image_; ++p) {
          const int64_t i = b * priors_per_image_ + p;
          if (sel[i] && !pos[i]) negatives_[b].push_back(p);
        }
    }
    return negatives_;
  }

 private:
  template <class U>
  MultiBoxLossParts<T> forward_on_device(const models::RetinaFaceOutput<T, D>& pred,
                                         const std::vector<std::vector<U>>& targets, const Tensor<float, D>& priors,
                                         const std::vector<std::vector<U>>* ignored) {
    const int64_t B = pred.loc.dim(0), A = pred.loc.dim(1);
    check<ShapeError>(pred.loc.rank() == 3 && pred.loc.dim(2) == 4, "MultiBoxLoss: loc must be [B, A, 4], got ",
                      pred.loc.shape().str());
    check<ShapeError>(pred.conf.shape() == Shape{B, A, 2}, "MultiBoxLoss: conf must be [", B, ", ", A,
                      ", 2], got ", pred.conf.shape().str());
    check<ShapeError>(pred.landms.shape() == Shape{B, A, 10}, "MultiBoxLoss: landms must be [", B, ", ", A,
                      ", 10], got ", pred.landms.shape().str());
    check<ShapeError>(priors.shape() == Shape{A, 4}, "MultiBoxLoss: priors must be [", A, ", 4], got ",
                      priors.shape().str());
    check<ShapeError>(static_cast<int64_t>(targets.size()) == B, "MultiBoxLoss: ", targets.size(),
                      " target lists for a batch of ", B);
    if (ignored)
      check<ShapeError>(static_cast<int64_t>(ignored->size()) == B, "MultiBoxLoss: ", ignored->size(),
                        " ignored-face lists for a batch of ", B);
    // 1. Match the batch on the device (only the packed ground truth is uploaded); positive
    // masks and per-image counts there too. Only the 2 B counts come back.
    const MatchTargets<T, D> m = match_on_device<T, D>(targets, priors, options_.match);
    const int64_t n = B * A;
    pos_ = Tensor<char, D>(Shape{n});
    Tensor<char, D> pos1(Shape{n});
    Executor<D>::for_each(n, functors::PositiveMasks{m.conf.data(), pos_.data(), pos1.data()});
    Tensor<int64_t, D> counts(Shape{B, 2}), num_neg(Shape{B});
    Executor<D>::for_each(B, functors::CountPositives{pos_.data(), pos1.data(), A, options_.negpos_ratio,
                                                      counts.data(), num_neg.data()});
    const std::vector<int64_t> counts_h = counts.to_vector();
    MultiBoxLossParts<T> parts;
    int64_t max_neg = 0;
    for (int64_t b = 0; b < B; ++b) {
      parts.num_pos += counts_h[2 * b];
      parts.num_pos_landm += counts_h[2 * b + 1];
      max_neg = std::max(max_neg, std::min(options_.negpos_ratio * counts_h[2 * b], A - 1));
    }
    const T N1 = static_cast<T>(std::max<int64_t>(parts.num_pos_landm, 1));
    const T N = static_cast<T>(std::max<int64_t>(parts.num_pos, 1));

    dloc_ = tensor_type(Shape{B, A, 4});
    dconf_ = tensor_type(Shape{B, A, 2});
    dlandm_ = tensor_type(Shape{B, A, 10});
    tensor_type per_prior(Shape{B, A});

    // 2. Landmark loss on conf_t > 0.
    Executor<D>::for_each(n, functors::MaskedSmoothL1<T>{pred.landms.data(), m.landm.data(), pos1.data(),
                                                         per_prior.data(), dlandm_.data(), 10, T(1) / N1});
    parts.landm = sum(per_prior) / N1;
    // 4. Localisation loss on conf_t != 0, weighted into the gradient.
    const T lw = static_cast<T>(options_.loc_weight);
    Executor<D>::for_each(n, functors::MaskedSmoothL1<T>{pred.loc.data(), m.loc.data(), pos_.data(),
                                                         per_prior.data(), dloc_.data(), 4, lw / N});
    parts.loc = sum(per_prior) / N;
    // 5. Hard negative mining per image: rank the mining loss, mark the top num_neg negatives.
    Executor<D>::for_each(n, functors::MiningLoss<T>{pred.conf.data(), pos_.data(), per_prior.data()});
    if (ignored) {
      const auto ignore = ignore_mask_on_device<D>(*ignored, priors, m.conf, options_.match.threshold);
      Executor<D>::for_each(n, functors::ExcludeFromMining<T>{ignore.data(), per_prior.data()});
    }
    selected_ = pos_.clone();
    if (max_neg > 0) {
      tensor_type ranked(Shape{B, A});
      Tensor<int32_t, D> order(Shape{B, A});
      ops::segmented_sort_descending(per_prior, ranked, order);
      Executor<D>::for_each(n, functors::MarkMinedNegatives<T>{order.data(), ranked.data(), num_neg.data(),
                                                               pos_.data(), selected_.data(), A});
    }
    parts.num_neg = std::llround(ops::ReduceOp<D>::sum(selected_.data(), n)) - parts.num_pos;
    priors_per_image_ = A;
    negatives_.clear();
    // 6. Confidence loss over positives and mined negatives.
    Executor<D>::for_each(n, functors::SelectedCrossEntropy<T>{pred.conf.data(), selected_.data(), pos_.data(),
                                                               per_prior.data(), dconf_.data(), T(1) / N});
    parts.conf = sum(per_prior) / N;
    // 7. Total.
    parts.total = lw * parts.loc + parts.conf + parts.landm;
    has_grad_ = true;
    return parts;
  }

  // Host priors -> device copy, kept while the values stay the same (the trainer passes the same
  // table every step): no per-anchor upload in a training step.
  Tensor<float, D> device_priors(const Tensor<float, cpu>& priors) {
    const float* p = priors.data();
    if (!(priors_dev_.defined() && priors_dev_.shape() == priors.shape() &&
          std::equal(p, p + priors.numel(), priors_host_.begin()))) {
      priors_host_.assign(p, p + priors.numel());
      priors_dev_ = Tensor<float, D>::from_host(priors.shape(), priors_host_);
    }
    return priors_dev_;
  }

  static tensor_type scaled(const tensor_type& t, T scale) { return scale != T(1) ? ops::scale(t, scale) : t.clone(); }
  // Host: in index order in long double (deterministic, float32 sums of ~17k terms stay exact
  // enough); other devices: ReduceOp's double accumulation.
  static T sum(const tensor_type& v) {
    if constexpr (std::is_same_v<D, cpu>) {
      long double s = 0;
      for (int64_t i = 0; i < v.numel(); ++i) s += v.data()[i];
      return static_cast<T>(s);
    } else {
      return static_cast<T>(ops::ReduceOp<D>::sum(v.data(), v.numel()));
    }
  }

  MultiBoxLossOptions options_;
  tensor_type dloc_, dconf_, dlandm_;
  Tensor<char, D> pos_, selected_;
  Tensor<float, D> priors_dev_;     // device copy of the host priors (D != cpu)
  std::vector<float> priors_host_;  // the values it holds
  int64_t priors_per_image_ = 1;
  mutable std::vector<std::vector<int64_t>> negatives_;
  bool has_grad_ = false;
};

}  // namespace rfcf::detection
