#pragma once
// RetinaFace MultiBoxLoss with hard negative mining, retinaface.md section 7:
//   L = loc_weight * L_loc + L_conf + L_landm
// Predictions are the RetinaFaceOutput of the model: loc [B, A, 4], conf logits [B, A, 2],
// landms [B, A, 10]; backward() returns gradients of L in the same layout, ready for
// RetinaFace::backward.
//
// Matching and the per-image negative ranking run on the host (the sort is host-only for now);
// predictions on another device are copied to the host and the gradients copied back. The
// per-prior math is in functors/multibox.hpp.
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
#include "rfcf/models/retinaface.hpp"
#include "rfcf/ops/functors/multibox.hpp"

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
  using host_tensor = Tensor<T, cpu>;

  explicit MultiBoxLoss(MultiBoxLossOptions o = {}) : options_(o) {
    check<ConfigError>(o.negpos_ratio >= 0, "MultiBoxLoss: negpos_ratio ", o.negpos_ratio, " must be >= 0");
  }
  const MultiBoxLossOptions& options() const { return options_; }

  // targets[b]: rows of kFaceFields values (normalised) for image b; priors [A, 4].
  // ignored (optional, same layout): faces that must not be learnt as faces nor as background
  // (e.g. faces below the size threshold of a progressive schedule): they take no part in
  // matching, and priors whose IoU with one of them reaches the match threshold are never mined
  // as negatives (unless matched to a face in `targets`).
  template <class U>
  MultiBoxLossParts<T> forward(const models::RetinaFaceOutput<T, D>& pred, const std::vector<std::vector<U>>& targets,
                               const Tensor<float, cpu>& priors,
                               const std::vector<std::vector<U>>* ignored = nullptr) {
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
    const host_tensor loc = to_host(pred.loc), conf = to_host(pred.conf), landm = to_host(pred.landms);

    // 1. Match every image.
    std::vector<T> loc_t(B * A * 4), landm_t(B * A * 10);
    std::vector<int64_t> conf_t(B * A);
    for (int64_t b = 0; b < B; ++b) {
      check<ShapeError>(targets[b].size() % kFaceFields == 0, "MultiBoxLoss: targets of image ", b, " hold ",
                        targets[b].size(), " values, not a multiple of ", kFaceFields);
      match_priors(targets[b].data(), static_cast<int64_t>(targets[b].size()) / kFaceFields, priors.data(), A,
                   options_.match, loc_t.data() + b * A * 4, landm_t.data() + b * A * 10, conf_t.data() + b * A);
    }
    const int64_t n = B * A;
    std::vector<char> pos(n), pos1(n), selected(n);
    MultiBoxLossParts<T> parts;
    for (int64_t i = 0; i < n; ++i) {
      pos1[i] = conf_t[i] > 0;
      pos[i] = conf_t[i] != 0;
      parts.num_pos_landm += pos1[i];
      parts.num_pos += pos[i];
    }
    const T N1 = static_cast<T>(std::max<int64_t>(parts.num_pos_landm, 1));
    const T N = static_cast<T>(std::max<int64_t>(parts.num_pos, 1));

    dloc_ = host_tensor(Shape{B, A, 4});
    dconf_ = host_tensor(Shape{B, A, 2});
    dlandm_ = host_tensor(Shape{B, A, 10});
    std::vector<T> per_prior(n);

    // 2. Landmark loss on conf_t > 0.
    Executor<cpu>::for_each(n, functors::MaskedSmoothL1<T>{landm.data(), landm_t.data(), pos1.data(),
                                                           per_prior.data(), dlandm_.data(), 10, T(1) / N1});
    parts.landm = sum(per_prior) / N1;
    // 4. Localisation loss on conf_t != 0, weighted into the gradient.
    const T lw = static_cast<T>(options_.loc_weight);
    Executor<cpu>::for_each(n, functors::MaskedSmoothL1<T>{loc.data(), loc_t.data(), pos.data(), per_prior.data(),
                                                           dloc_.data(), 4, lw / N});
    parts.loc = sum(per_prior) / N;
    // 5. Hard negative mining per image.
    Executor<cpu>::for_each(n, functors::MiningLoss<T>{conf.data(), pos.data(), per_prior.data()});
    if (ignored) exclude_ignored(*ignored, priors, pos, per_prior, B, A);
    negatives_.assign(B, {});
    std::vector<int64_t> order(A);
    for (int64_t b = 0; b < B; ++b) {
      int64_t num_pos = 0;
      for (int64_t p = 0; p < A; ++p) num_pos += pos[b * A + p], selected[b * A + p] = pos[b * A + p];
      const int64_t num_neg = std::min(options_.negpos_ratio * num_pos, A - 1);
      if (num_neg <= 0) continue;
      const T* score = per_prior.data() + b * A;
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return score[x] > score[y]; });
      for (int64_t r = 0; r < num_neg; ++r) {
        const int64_t p = order[r];
        if (pos[b * A + p] || score[p] < T(0)) continue;  // positive (already selected) or ignored
        selected[b * A + p] = 1;
        negatives_[b].push_back(p);
      }
      std::sort(negatives_[b].begin(), negatives_[b].end());
      parts.num_neg += static_cast<int64_t>(negatives_[b].size());
    }
    // 6. Confidence loss over positives and mined negatives.
    Executor<cpu>::for_each(n, functors::SelectedCrossEntropy<T>{conf.data(), selected.data(), pos.data(),
                                                                 per_prior.data(), dconf_.data(), T(1) / N});
    parts.conf = sum(per_prior) / N;
    // 7. Total.
    parts.total = lw * parts.loc + parts.conf + parts.landm;
    has_grad_ = true;
    return parts;
  }

  // Gradients of the last forward's total loss (times `scale`, e.g. a loss-scaling factor).
  models::RetinaFaceOutput<T, D> backward(T scale = T(1)) const {
    check<Error>(has_grad_, "MultiBoxLoss::backward called before forward");
    return {to_device(dloc_, scale), to_device(dconf_, scale), to_device(dlandm_, scale)};
  }

  // Mined negative prior indices (ascending, positives excluded) per image of the last forward.
  const std::vector<std::vector<int64_t>>& negatives() const { return negatives_; }

 private:
  // Marks priors near ignored faces with mining score -1 (below every cross-entropy).
  template <class U>
  void exclude_ignored(const std::vector<std::vector<U>>& ignored, const Tensor<float, cpu>& priors,
                       const std::vector<char>& pos, std::vector<T>& score, int64_t B, int64_t A) const {
    check<ShapeError>(static_cast<int64_t>(ignored.size()) == B, "MultiBoxLoss: ", ignored.size(),
                      " ignored-face lists for a batch of ", B);
    const float* pr = priors.data();
    for (int64_t b = 0; b < B; ++b) {
      check<ShapeError>(ignored[b].size() % kFaceFields == 0, "MultiBoxLoss: ignored faces of image ", b, " hold ",
                        ignored[b].size(), " values, not a multiple of ", kFaceFields);
      const int64_t m = static_cast<int64_t>(ignored[b].size()) / kFaceFields;
      for (int64_t g = 0; g < m; ++g) {
        const U* r = ignored[b].data() + g * kFaceFields;
        const double box[4] = {double(r[0]), double(r[1]), double(r[2]), double(r[3])};
        for (int64_t p = 0; p < A; ++p) {
          if (pos[b * A + p]) continue;
          const double pf[4] = {pr[p * 4] - pr[p * 4 + 2] / 2.0, pr[p * 4 + 1] - pr[p * 4 + 3] / 2.0,
                                pr[p * 4] + pr[p * 4 + 2] / 2.0, pr[p * 4 + 1] + pr[p * 4 + 3] / 2.0};
          if (match_iou(box, pf) >= options_.match.threshold) score[b * A + p] = T(-1);
        }
      }
    }
  }

  static host_tensor to_host(const tensor_type& t) {
    if constexpr (std::is_same_v<D, cpu>) return t;
    else return t.template to<cpu>();
  }
  static tensor_type to_device(const host_tensor& t, T scale) {
    host_tensor s = t;
    if (scale != T(1)) {
      s = t.clone();
      for (int64_t i = 0; i < s.numel(); ++i) s.data()[i] *= scale;
    }
    if constexpr (std::is_same_v<D, cpu>) return scale != T(1) ? s : t.clone();
    else return s.template to<D>();
  }
  // Sum in index order (deterministic); long double keeps float32 sums of ~17k terms exact enough.
  static T sum(const std::vector<T>& v) {
    long double s = 0;
    for (T x : v) s += x;
    return static_cast<T>(s);
  }

  MultiBoxLossOptions options_;
  host_tensor dloc_, dconf_, dlandm_;
  std::vector<std::vector<int64_t>> negatives_;
  bool has_grad_ = false;
};

}  // namespace rfcf::detection
