#pragma once
// Prior matching of a whole batch on device D (retinaface.md section 6): the targets equal
// match_priors' bit for bit on the host (on cuda, the log of the size targets may differ in the
// last bit). Only the packed ground truth (faces x kFaceFields values and B + 1 offsets) crosses
// to the device; the per-prior targets are made and stay there. Device-generic: needs
// Executor<D> (rfcf/cpu.hpp or rfcf/cuda.cuh).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/detection/matching.hpp"
#include "rfcf/detection/matching_functors.hpp"

namespace rfcf::detection {

// Ground truth of a batch as one array: image b owns rows [offsets[b], offsets[b + 1]) of
// kFaceFields values. Guarded matching drops degenerate boxes here, as match_priors does.
template <class T>
struct PackedTruths {
  std::vector<T> rows;
  std::vector<int64_t> offsets;  // B + 1
  int64_t faces() const { return offsets.empty() ? 0 : offsets.back(); }
};

template <class T, class U>
PackedTruths<T> pack_truths(const std::vector<std::vector<U>>& targets, const MatchOptions& o,
                            const char* what = "match_on_device") {
  PackedTruths<T> out;
  out.offsets.reserve(targets.size() + 1);
  out.offsets.push_back(0);
  for (size_t b = 0; b < targets.size(); ++b) {
    const std::vector<U>& t = targets[b];
    check<ShapeError>(t.size() % kFaceFields == 0, what, ": targets of image ", b, " hold ", t.size(),
                      " values, not a multiple of ", kFaceFields);
    for (size_t g = 0; g < t.size() / kFaceFields; ++g) {
      const U* r = t.data() + g * kFaceFields;
      for (int64_t f = 0; f < kFaceFields; ++f)
        check<NumericError>(std::isfinite(static_cast<double>(r[f])), what, ": image ", b, " ground truth ", g,
                            " field ", f, " is not finite");
      if (o.guarded && !(r[2] > r[0] && r[3] > r[1])) continue;
      for (int64_t f = 0; f < kFaceFields; ++f) out.rows.push_back(static_cast<T>(r[f]));
    }
    out.offsets.push_back(static_cast<int64_t>(out.rows.size()) / kFaceFields);
  }
  return out;
}

// Targets of a batch on device D; best_truth (the matched row of the image's packed ground
// truth, -1 on background images) only when asked for.
template <class T, class D>
struct MatchTargets {
  Tensor<T, D> loc;                // [B, A, 4]
  Tensor<T, D> landm;              // [B, A, 10]
  Tensor<int64_t, D> conf;         // [B, A], values 1, -1, 0
  Tensor<int64_t, D> best_truth;  // [B, A] or undefined
};

namespace detail {
template <class V, class D>
Tensor<V, D> upload_nonempty(std::vector<V> values, int64_t cols) {
  if (values.empty()) values.assign(static_cast<size_t>(cols), V(0));  // never read; no zero-size buffers
  return Tensor<V, D>::from_host(Shape{static_cast<int64_t>(values.size()) / cols, cols}, values);
}
}  // namespace detail

// targets[b]: rows of kFaceFields values of image b (normalised); priors [A, 4] on D.
template <class T, class D, class U>
MatchTargets<T, D> match_on_device(const std::vector<std::vector<U>>& targets, const Tensor<float, D>& priors,
                                   const MatchOptions& o = {}, bool with_best_truth = false) {
  check<ShapeError>(priors.rank() == 2 && priors.dim(1) == 4 && priors.dim(0) > 0,
                    "match_on_device: priors must be [A, 4] with A > 0, got ", priors.shape().str());
  const int64_t B = static_cast<int64_t>(targets.size()), A = priors.dim(0), n = B * A;
  const PackedTruths<T> packed = pack_truths<T>(targets, o);
  const int64_t G = packed.faces();
  const auto truths = detail::upload_nonempty<T, D>(packed.rows, kFaceFields);
  const auto offsets = Tensor<int64_t, D>::from_host(Shape{B + 1}, packed.offsets);

  Tensor<T, D> point(Shape{A, 4});
  Executor<D>::for_each(A, matcher::PointForm<T>{priors.data(), point.data()});
  Tensor<int64_t, D> best_prior(Shape{G > 0 ? G : 1});
  Tensor<char, D> valid(Shape{G > 0 ? G : 1});
  Executor<D>::for_each(G, matcher::BestPriorOfTruth<T>{truths.data(), point.data(), A, static_cast<T>(o.valid_overlap),
                                                         best_prior.data(), valid.data()});
  Tensor<int32_t, D> taker(Shape{B, A});
  Tensor<char, D> forced(Shape{B, A}), any_valid(Shape{B > 0 ? B : 1});
  Tensor<T, D> bounds(Shape{B > 0 ? B : 1, 4});
  Executor<D>::for_each(n, matcher::ClearForced{taker.data(), forced.data()});
  Executor<D>::for_each(B, matcher::ForcedPriors<T>{truths.data(), offsets.data(), best_prior.data(), valid.data(), A,
                                                    o.guarded, taker.data(), forced.data(), any_valid.data(),
                                                    bounds.data()});
  MatchTargets<T, D> out{Tensor<T, D>(Shape{B, A, 4}), Tensor<T, D>(Shape{B, A, 10}), Tensor<int64_t, D>(Shape{B, A}),
                         {}};
  if (with_best_truth) out.best_truth = Tensor<int64_t, D>(Shape{B, A});
  Executor<D>::for_each(
      n, matcher::MatchPrior<T>{truths.data(), offsets.data(), taker.data(), forced.data(), any_valid.data(),
                                bounds.data(), priors.data(), point.data(), A, static_cast<T>(o.threshold),
                                static_cast<T>(o.forced_overlap), o.variances, out.loc.data(), out.landm.data(),
                                out.conf.data(), with_best_truth ? out.best_truth.data() : nullptr});
  return out;
}

// Priors [A, 4] on D that must not be mined as negatives: 1 where conf_t [B, A] is 0 and the
// IoU with one of the image's ignored faces (rows of kFaceFields values, as targets) reaches
// `threshold`. Only the ignored boxes cross to the device.
template <class D, class U>
Tensor<char, D> ignore_mask_on_device(const std::vector<std::vector<U>>& ignored, const Tensor<float, D>& priors,
                                      const Tensor<int64_t, D>& conf_t, double threshold) {
  const int64_t B = static_cast<int64_t>(ignored.size()), A = priors.dim(0);
  check<ShapeError>(conf_t.shape() == Shape{B, A}, "ignore_mask_on_device: conf_t ", conf_t.shape().str(),
                    " does not match ", B, " images of ", A, " priors");
  std::vector<double> boxes;
  std::vector<int64_t> offsets{0};
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<U>& f = ignored[static_cast<size_t>(b)];
    check<ShapeError>(f.size() % kFaceFields == 0, "ignore_mask_on_device: ignored faces of image ", b, " hold ", f.size(),
                      " values, not a multiple of ", kFaceFields);
    for (size_t g = 0; g < f.size() / kFaceFields; ++g)
      for (int k = 0; k < 4; ++k) boxes.push_back(static_cast<double>(f[g * kFaceFields + k]));
    offsets.push_back(static_cast<int64_t>(boxes.size()) / 4);
  }
  const auto dev_boxes = detail::upload_nonempty<double, D>(boxes, 4);
  const auto dev_offsets = Tensor<int64_t, D>::from_host(Shape{B + 1}, offsets);
  Tensor<char, D> mask(Shape{B, A});
  Executor<D>::for_each(B * A, matcher::IgnoreNearFaces{dev_boxes.data(), dev_offsets.data(), priors.data(), A,
                                                        conf_t.data(), threshold, mask.data()});
  return mask;
}

}  // namespace rfcf::detection
