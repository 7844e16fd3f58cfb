#pragma once
// Prior matching (retinaface.md section 6) as RFCF_HD functors, run by Executor<D> on any device
// (driver: matching_device.hpp). They give exactly match_priors' targets: the same IoU and
// encoding functions, the same first-maximum argmaxes and the same step-6 order.
//
// The ground truth of a batch is one array of rows of kFaceFields values (all images, in order);
// image b owns rows [offsets[b], offsets[b + 1]). Prior i of the batch is (b, p) = (i / A, i % A).
#include <cstdint>

#include "rfcf/core/hd.hpp"
#include "rfcf/detection/box_coding.hpp"
#include "rfcf/detection/matching.hpp"

namespace rfcf::detection::matcher {

// Prior p [cx, cy, w, h] (float) -> point form [x1, y1, x2, y2] in T, as match_priors computes it.
template <class T>
struct PointForm {
  const float* priors;  // [A, 4]
  T* point;             // [A, 4]
  RFCF_HD void operator()(int64_t p) const {
    const T cx = static_cast<T>(priors[p * 4]), cy = static_cast<T>(priors[p * 4 + 1]);
    const T w = static_cast<T>(priors[p * 4 + 2]), h = static_cast<T>(priors[p * 4 + 3]);
    point[p * 4] = cx - w / T(2);
    point[p * 4 + 1] = cy - h / T(2);
    point[p * 4 + 2] = cx + w / T(2);
    point[p * 4 + 3] = cy + h / T(2);
  }
};

// Steps 2 and 3 for ground truth g (any image): its best prior over all A priors (first maximum)
// and whether that overlap reaches valid_overlap.
template <class T>
struct BestPriorOfTruth {
  const T* truths;  // [G, kFaceFields]
  const T* point;   // [A, 4]
  int64_t priors;   // A
  T valid_overlap;
  int64_t* best_prior;  // [G]
  char* valid;          // [G]
  RFCF_HD void operator()(int64_t g) const {
    const T* box = truths + g * kFaceFields;
    T best = T(-1);
    int64_t best_p = 0, p = 0;
    for (; p < priors && best < T(0); ++p) consider(box, p, best, best_p);  // usually prior 0 alone
    // From here an IoU of 0 never wins: test blocks of priors for overlap first (the negation of
    // match_disjoint, in a loop the host compiler vectorises), then take the overlapping ones in
    // order.
    constexpr int kBlock = 64;
    const T bx1 = box[0], by1 = box[1], bx2 = box[2], by2 = box[3];
    for (; p + kBlock <= priors; p += kBlock) {
      int overlap[kBlock];
      int any = 0;
      const T* q = point + p * 4;
      for (int j = 0; j < kBlock; ++j) {
        const T* r = q + j * 4;
        const T x1 = bx1 < r[0] ? r[0] : bx1, y1 = by1 < r[1] ? r[1] : by1;
        const T x2 = r[2] < bx2 ? r[2] : bx2, y2 = r[3] < by2 ? r[3] : by2;
        overlap[j] = (x2 > x1) & (y2 > y1);
        any |= overlap[j];
      }
      if (!any) continue;
      for (int j = 0; j < kBlock; ++j)
        if (overlap[j]) consider(box, p + j, best, best_p);
    }
    for (; p < priors; ++p)
      if (!match_disjoint(box, point + p * 4)) consider(box, p, best, best_p);
    best_prior[g] = best_p;
    valid[g] = best >= valid_overlap ? 1 : 0;
  }
  // First maximum: a later prior wins only with a strictly larger IoU (NaN never wins).
  RFCF_HD void consider(const T* box, int64_t p, T& best, int64_t& best_p) const {
    const T iou = match_iou(box, point + p * 4);
    if (iou > best) best = iou, best_p = p;
  }
};

// Clears the step-5/6 tables of prior i before ForcedPriors fills them.
struct ClearForced {
  int32_t* taker;  // [B, A]
  char* forced;    // [B, A]
  RFCF_HD void operator()(int64_t i) const {
    taker[i] = -1;
    forced[i] = 0;
  }
};

// Steps 3, 5 and 6 for image b, its ground truths in index order (one thread per image, so the
// later gt wins as in the sequential reference): forced[b, p] = 1 when a valid gt chose prior p;
// taker[b, p] = the last gt (within the image) that chose p, valid or not (valid only when
// guarded); any_valid[b]; bounds[b] = the box enclosing the image's boxes (priors outside it
// overlap no gt: MatchPrior skips their IoUs).
template <class T>
struct ForcedPriors {
  const T* truths;            // [G, kFaceFields]
  const int64_t* offsets;     // [B + 1]
  const int64_t* best_prior;  // [G]
  const char* valid;          // [G]
  int64_t priors_per_image;   // A
  bool guarded;
  int32_t* taker;    // [B, A]
  char* forced;      // [B, A]
  char* any_valid;   // [B]
  T* bounds;         // [B, 4]
  RFCF_HD void operator()(int64_t b) const {
    char any = 0;
    T* box = bounds + b * 4;
    for (int64_t g = offsets[b]; g < offsets[b + 1]; ++g) {
      const int64_t i = b * priors_per_image + best_prior[g];
      if (valid[g]) forced[i] = 1, any = 1;
      if (valid[g] || !guarded) taker[i] = static_cast<int32_t>(g - offsets[b]);
      const T* r = truths + g * kFaceFields;
      if (g == offsets[b]) {
        for (int k = 0; k < 4; ++k) box[k] = r[k];
      } else {
        box[0] = r[0] < box[0] ? r[0] : box[0];
        box[1] = r[1] < box[1] ? r[1] : box[1];
        box[2] = r[2] > box[2] ? r[2] : box[2];
        box[3] = r[3] > box[3] ? r[3] : box[3];
      }
    }
    any_valid[b] = any;
  }
};

// Steps 4, 7 and 8 for prior i = b * A + p: its best ground truth of image b (first maximum),
// overridden by the step-5/6 tables, the threshold, the label (1 with landmarks, -1 without)
// and the encoded targets. Images without faces or without a valid gt are background: zero
// targets, conf 0, best_truth -1.
template <class T>
struct MatchPrior {
  const T* truths;          // [G, kFaceFields]
  const int64_t* offsets;   // [B + 1]
  const int32_t* taker;     // [B, A], from ForcedPriors
  const char* forced;       // [B, A]
  const char* any_valid;    // [B]
  const T* bounds;          // [B, 4]
  const float* priors;      // [A, 4] centre form
  const T* point;           // [A, 4] point form
  int64_t priors_per_image;  // A
  T threshold, forced_overlap;
  Variances variances;
  T* loc_t;             // [B, A, 4]
  T* landm_t;           // [B, A, 10]
  int64_t* conf_t;      // [B, A]
  int64_t* best_truth;  // [B, A] or null
  RFCF_HD void operator()(int64_t i) const {
    const int64_t b = i / priors_per_image, p = i % priors_per_image;
    T* loc = loc_t + i * 4;
    T* landm = landm_t + i * 10;
    if (!any_valid[b]) {  // also an image without faces
      for (int k = 0; k < 4; ++k) loc[k] = T(0);
      for (int k = 0; k < 10; ++k) landm[k] = T(0);
      conf_t[i] = 0;
      if (best_truth) best_truth[i] = -1;
      return;
    }
    const int64_t first = offsets[b], m = offsets[b + 1] - first;
    const T* pf = point + p * 4;
    T best = T(-1);
    int64_t best_g = 0, g = 0;
    for (; g < m && best < T(0); ++g) consider(truths + first * kFaceFields, pf, g, best, best_g);  // usually gt 0
    // Now an IoU of 0 never wins; a prior outside the bounds overlaps no gt.
    if (!match_disjoint(bounds + b * 4, pf))
      for (; g < m; ++g)
        if (!match_disjoint(truths + (first + g) * kFaceFields, pf))
          consider(truths + first * kFaceFields, pf, g, best, best_g);
    const T overlap = forced[i] ? forced_overlap : best;
    const int64_t t = taker[i] >= 0 ? int64_t{taker[i]} : best_g;
    const T* row = truths + (first + t) * kFaceFields;
    conf_t[i] = overlap < threshold ? 0 : static_cast<int64_t>(row[14]);
    const T prior[4] = {static_cast<T>(priors[p * 4]), static_cast<T>(priors[p * 4 + 1]),
                        static_cast<T>(priors[p * 4 + 2]), static_cast<T>(priors[p * 4 + 3])};
    encode_box(prior, row, loc, variances);
    encode_landmarks(prior, row + 4, landm, variances);
    if (best_truth) best_truth[i] = t;
  }
  // First maximum over the image's gts (rows from `rows`): strictly larger IoU only.
  RFCF_HD static void consider(const T* rows, const T* pf, int64_t g, T& best, int64_t& best_g) {
    const T iou = match_iou(rows + g * kFaceFields, pf);
    if (iou > best) best = iou, best_g = g;
  }
};

// Mining exclusion for prior i = b * A + p: 1 when it is not positive (conf_t == 0) and its IoU
// (in double) with one of image b's ignored faces reaches the threshold.
struct IgnoreNearFaces {
  const double* boxes;     // [I, 4] point form, normalised
  const int64_t* offsets;  // [B + 1]
  const float* priors;     // [A, 4] centre form
  int64_t priors_per_image;
  const int64_t* conf_t;  // [B, A]
  double threshold;
  char* ignore;  // [B, A]
  RFCF_HD void operator()(int64_t i) const {
    const int64_t b = i / priors_per_image, p = i % priors_per_image;
    ignore[i] = 0;
    if (conf_t[i] != 0) return;
    const float* pr = priors + p * 4;
    const double pf[4] = {pr[0] - pr[2] / 2.0, pr[1] - pr[3] / 2.0, pr[0] + pr[2] / 2.0, pr[1] + pr[3] / 2.0};
    for (int64_t f = offsets[b]; f < offsets[b + 1]; ++f)
      if (match_iou(boxes + f * 4, pf) >= threshold) {
        ignore[i] = 1;
        return;
      }
  }
};

}  // namespace rfcf::detection::matcher
