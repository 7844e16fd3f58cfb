#pragma once
// Per-prior and per-candidate math of the device post-processing (postprocess_device.hpp), shared
// by the cpu and cuda executors; the same expressions as postprocess.hpp so both paths agree.
#include <cstdint>
#include <limits>
#include <vector>

#include "rfcf/core/hd.hpp"
#include "rfcf/detection/box_coding.hpp"
#include "rfcf/detection/nms.hpp"

namespace rfcf::detection::postproc {

// keys[i] = face score of prior i when above the threshold, else -inf (a descending sort puts
// the candidates first); is_candidate[i] = 1 or 0 (summed to count them). NaN scores are not
// candidates, as on the host path.
struct CandidateKeys {
  const float* conf;  // [n, 2], column 1 = face
  float threshold;
  float* keys;
  float* is_candidate;
  RFCF_HD void operator()(int64_t i) const {
    const float s = conf[2 * i + 1];
    const bool c = s > threshold;
    keys[i] = c ? s : -std::numeric_limits<float>::infinity();
    is_candidate[i] = c ? 1.0f : 0.0f;
  }
};

// Candidate c (the c-th best prior, order[c]): decoded box and landmarks in original pixels.
struct DecodeCandidate {
  const int32_t* order;
  const float* loc;     // [n, 4]
  const float* landms;  // [n, 10] or null (landmarks are then 0)
  const float* priors;  // [n, 4]
  float width, height, resize;
  Variances variances;
  float* boxes;      // [k, 4]
  float* landmarks;  // [k, 10]
  RFCF_HD void operator()(int64_t c) const {
    const int64_t i = order[c];
    float* b = boxes + 4 * c;
    decode_box(priors + 4 * i, loc + 4 * i, b, variances);
    b[0] = b[0] * width / resize;
    b[1] = b[1] * height / resize;
    b[2] = b[2] * width / resize;
    b[3] = b[3] * height / resize;
    float* l = landmarks + 10 * c;
    if (!landms) {
      for (int k = 0; k < 10; ++k) l[k] = 0.0f;
      return;
    }
    decode_landmarks(priors + 4 * i, landms + 10 * i, l, variances);
    for (int p = 0; p < 5; ++p) {
      l[2 * p] = l[2 * p] * width / resize;
      l[2 * p + 1] = l[2 * p + 1] * height / resize;
    }
  }
};

// Bitmask NMS: word w of row i has bit k set when box j = 64 w + k comes after box i and
// overlaps it by more than the threshold (IoU with the +1 convention). One entry per (i, w).
struct NmsMask {
  const float* boxes;  // [n, 4], best first
  int64_t n;
  int64_t words;  // ceil(n / 64)
  float threshold;
  uint64_t* mask;  // [n, words]
  RFCF_HD void operator()(int64_t entry) const {
    const int64_t i = entry / words, j0 = (entry % words) * 64;
    uint64_t bits = 0;
    for (int64_t k = 0; k < 64 && j0 + k < n; ++k) {
      const int64_t j = j0 + k;
      if (j > i && iou_plus_one(boxes + 4 * i, boxes + 4 * j) > threshold) bits |= uint64_t(1) << k;
    }
    mask[entry] = bits;
  }
};

// Greedy pass over the mask on the host: box i survives unless an earlier survivor masks it
// (the same result as nms_plus_one on the same boxes).
inline std::vector<int64_t> nms_keep_from_mask(const uint64_t* mask, int64_t n, int64_t words) {
  std::vector<uint64_t> removed(static_cast<size_t>(words), 0);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i) {
    if ((removed[static_cast<size_t>(i / 64)] >> (i % 64)) & 1u) continue;
    keep.push_back(i);
    for (int64_t w = i / 64; w < words; ++w) removed[static_cast<size_t>(w)] |= mask[i * words + w];
  }
  return keep;
}

}  // namespace rfcf::detection::postproc
