#pragma once
// Prior matching for RetinaFace training, retinaface.md section 6 (reference behaviour by default,
// the recommended "guarded" mode behind an option), producing the regression and class targets of
// section 5. match_priors runs on the host, one image at a time: the reference for the
// device-generic matcher of matching_device.hpp (the same IoU and encoding functions).
//
// Ground truths of one image are rows of kFaceFields values, normalised by the network input size:
//   [x1, y1, x2, y2, lx0, ly0, ..., lx4, ly4, label]   label 1 = with landmarks, -1 = without.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/detection/box_coding.hpp"

namespace rfcf::detection {

inline constexpr int64_t kFaceFields = 15;

struct MatchOptions {
  double threshold = 0.35;      // a prior is positive when its best overlap reaches this
  double valid_overlap = 0.2;   // a gt is forced onto its best prior only when that IoU reaches this
  double forced_overlap = 2.0;  // value written into best_truth_overlap for forced priors
  // Reference quirk off: invalid gts do not take priors in step 6, and boxes with w <= 0 or h <= 0
  // are dropped before matching (retinaface.md 13.3).
  bool guarded = false;
  Variances variances{};
};

namespace detail {
// a * b rounded to T before it is added to anything: compilers may otherwise fuse the product
// into an FMA (g++ does with -march=native, nvcc always), which changes IoUs in the last bit.
// PyTorch's reference rounds every product, and host and device matching then agree exactly.
template <class T>
RFCF_HD inline T rounded_product(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float>)
    return __fmul_rn(a, b);
  else
    return __dmul_rn(a, b);
#else
  T r = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+x"(r));  // opaque to the optimiser: no contraction across it
#elif defined(__GNUC__) && defined(__aarch64__)
  asm("" : "+w"(r));
#endif
  return r;
#endif
}
}  // namespace detail

// IoU of two point-form boxes, no +1 convention (section 6 step 1). Comparisons spelled as
// std::max / std::min evaluate them (RFCF_HD: device matching uses the same function).
template <class T>
RFCF_HD inline T match_iou(const T* a, const T* b) {
  const T x1 = a[0] < b[0] ? b[0] : a[0], y1 = a[1] < b[1] ? b[1] : a[1];
  const T x2 = b[2] < a[2] ? b[2] : a[2], y2 = b[3] < a[3] ? b[3] : a[3];
  const T iw = T(0) < x2 - x1 ? x2 - x1 : T(0);
  const T ih = T(0) < y2 - y1 ? y2 - y1 : T(0);
  const T inter = detail::rounded_product(iw, ih);
  const T area_a = detail::rounded_product(a[2] - a[0], a[3] - a[1]);
  const T area_b = detail::rounded_product(b[2] - b[0], b[3] - b[1]);
  return inter / (area_a + area_b - inter);
}

// True when two boxes cannot overlap with positive area: match_iou is then +-0 or NaN, which
// never beats a best overlap that is already >= 0 (argmax loops skip the division).
template <class T>
RFCF_HD inline bool match_disjoint(const T* a, const T* b) {
  const T x1 = a[0] < b[0] ? b[0] : a[0], y1 = a[1] < b[1] ? b[1] : a[1];
  const T x2 = b[2] < a[2] ? b[2] : a[2], y2 = b[3] < a[3] ? b[3] : a[3];
  return !(x2 > x1) || !(y2 > y1);
}

// Matches one image. truths: n rows of kFaceFields; priors: [A, 4] as [cx, cy, w, h].
// Writes loc_t [A, 4], landm_t [A, 10], conf_t [A] in {1, -1, 0}. Returns the number of priors
// with conf_t != 0. best_truth (optional, [A]) receives the matched gt row index per prior (-1 when
// the image is all background).
template <class T, class U, class P>
inline int64_t match_priors(const U* truths, int64_t n, const P* priors, int64_t A, const MatchOptions& o, T* loc_t,
                            T* landm_t, int64_t* conf_t, int64_t* best_truth = nullptr) {
  check<ShapeError>(n >= 0 && A > 0, "match_priors: ", n, " ground truths and ", A, " priors");
  // Gather the gts that take part (guarded mode drops degenerate boxes).
  std::vector<T> gt;  // rows of kFaceFields in T
  gt.reserve(static_cast<size_t>(n * kFaceFields));
  for (int64_t g = 0; g < n; ++g) {
    const U* r = truths + g * kFaceFields;
    for (int64_t f = 0; f < kFaceFields; ++f)
      check<NumericError>(std::isfinite(static_cast<double>(r[f])), "match_priors: ground truth ", g, " field ", f,
                        " is not finite");
    if (o.guarded && !(r[2] > r[0] && r[3] > r[1])) continue;
    for (int64_t f = 0; f < kFaceFields; ++f) gt.push_back(static_cast<T>(r[f]));
  }
  const int64_t m = static_cast<int64_t>(gt.size()) / kFaceFields;

  auto background = [&] {
    for (int64_t p = 0; p < A; ++p) {
      for (int k = 0; k < 4; ++k) loc_t[p * 4 + k] = T(0);
      for (int k = 0; k < 10; ++k) landm_t[p * 10 + k] = T(0);
      conf_t[p] = 0;
      if (best_truth) best_truth[p] = -1;
    }
    return int64_t{0};
  };
  if (m == 0) return background();

  std::vector<T> pf(static_cast<size_t>(A * 4));  // priors in point form
  for (int64_t p = 0; p < A; ++p) {
    const T cx = static_cast<T>(priors[p * 4]), cy = static_cast<T>(priors[p * 4 + 1]);
    const T w = static_cast<T>(priors[p * 4 + 2]), h = static_cast<T>(priors[p * 4 + 3]);
    pf[p * 4] = cx - w / T(2);
    pf[p * 4 + 1] = cy - h / T(2);
    pf[p * 4 + 2] = cx + w / T(2);
    pf[p * 4 + 3] = cy + h / T(2);
  }

  // Steps 2 and 4 in one pass over the IoU matrix; strict '>' keeps the first index on ties.
  std::vector<T> best_prior_overlap(m, T(-1));
  std::vector<int64_t> best_prior_idx(m, 0);
  std::vector<T> best_truth_overlap(A, T(-1));
  std::vector<int64_t> best_truth_idx(A, 0);
  for (int64_t g = 0; g < m; ++g) {
    const T* box = gt.data() + g * kFaceFields;
    for (int64_t p = 0; p < A; ++p) {
      const T iou = match_iou(box, pf.data() + p * 4);
      if (iou > best_prior_overlap[g]) best_prior_overlap[g] = iou, best_prior_idx[g] = p;
      if (iou > best_truth_overlap[p]) best_truth_overlap[p] = iou, best_truth_idx[p] = g;
    }
  }
  // Step 3: valid gts.
  std::vector<char> valid(m);
  bool any_valid = false;
  for (int64_t g = 0; g < m; ++g) any_valid |= (valid[g] = best_prior_overlap[g] >= T(o.valid_overlap)) != 0;
  if (!any_valid) return background();
  // Step 5: force the best prior of every valid gt.
  for (int64_t g = 0; g < m; ++g)
    if (valid[g]) best_truth_overlap[best_prior_idx[g]] = T(o.forced_overlap);
  // Step 6: every gt in index order (reference) or only valid ones (guarded) takes its best prior.
  for (int64_t g = 0; g < m; ++g)
    if (valid[g] || !o.guarded) best_truth_idx[best_prior_idx[g]] = g;

  int64_t num_pos = 0;
  for (int64_t p = 0; p < A; ++p) {
    const T* row = gt.data() + best_truth_idx[p] * kFaceFields;
    const T label = row[14];
    conf_t[p] = best_truth_overlap[p] < T(o.threshold) ? 0 : static_cast<int64_t>(label);
    num_pos += conf_t[p] != 0;
    const T prior[4] = {static_cast<T>(priors[p * 4]), static_cast<T>(priors[p * 4 + 1]),
                        static_cast<T>(priors[p * 4 + 2]), static_cast<T>(priors[p * 4 + 3])};
    encode_box(prior, row, loc_t + p * 4, o.variances);
    encode_landmarks(prior, row + 4, landm_t + p * 10, o.variances);
    if (best_truth) best_truth[p] = best_truth_idx[p];
  }
  return num_pos;
}

}  // namespace rfcf::detection
