#pragma once
// RetinaFace post-processing (retinaface.md 9.2): decode, confidence threshold, top-k,
// +1-convention NMS, keep-top-k, scaling to original-image pixels. Runs on CPU float arrays
// (one image) or on Tensor<float, cpu> (one image or a batch).
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/detection/box_coding.hpp"
#include "rfcf/detection/nms.hpp"

namespace rfcf::detection {

struct Detection {
  float box[4] = {0, 0, 0, 0};  // x1, y1, x2, y2 in original-image pixels
  float score = 0;
  float landmarks[10] = {};     // x0, y0, ..., x4, y4 (left eye, right eye, nose, left/right mouth)
};

struct PostprocessOptions {
  float conf_threshold = 0.02f;  // keep score > conf_threshold (strict, compared in float32)
  float nms_threshold = 0.4f;    // drop IoU > nms_threshold
  int64_t top_k = 5000;          // candidates kept before NMS; < 0: all (WIDER test script)
  int64_t keep_top_k = 750;      // detections kept after NMS; < 0: all
  Variances variances{};

  void validate() const {
    check<ConfigError>(nms_threshold >= 0 && nms_threshold <= 1, "PostprocessOptions: nms_threshold ",
                       nms_threshold, " outside [0, 1]");
    check<ConfigError>(variances.center > 0 && variances.size > 0, "PostprocessOptions: variances must be positive");
  }
};

// One image. loc [n,4], conf [n,2] (softmaxed, column 1 = face), landms [n,10] (may be null:
// landmarks are then zero), priors [n,4]; input_w/input_h = network input size; resize = the
// factor the original image was scaled by before the network (1 = original size).
inline std::vector<Detection> postprocess(const float* loc, const float* conf, const float* landms,
                                          const float* priors, int64_t n, int64_t input_w, int64_t input_h,
                                          double resize = 1.0, const PostprocessOptions& o = {}) {
  o.validate();
  check<ShapeError>(n >= 0 && input_w > 0 && input_h > 0, "postprocess: bad sizes n=", n, " input ", input_w,
                    "x", input_h);
  check<ConfigError>(resize > 0, "postprocess: resize factor ", resize, " must be positive");
  const float W = static_cast<float>(input_w), H = static_cast<float>(input_h);
  const float r = static_cast<float>(resize);

  std::vector<int64_t> cand;
  for (int64_t i = 0; i < n; ++i)
    if (conf[2 * i + 1] > o.conf_threshold) cand.push_back(i);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) { return conf[2 * a + 1] > conf[2 * b + 1]; });
  if (o.top_k >= 0 && static_cast<int64_t>(cand.size()) > o.top_k) cand.resize(static_cast<size_t>(o.top_k));

  // Decoded boxes in pixels, in candidate order.
  std::vector<float> boxes(cand.size() * 4);
  for (size_t c = 0; c < cand.size(); ++c) {
    const int64_t i = cand[c];
    float* b = boxes.data() + 4 * c;
    decode_box(priors + 4 * i, loc + 4 * i, b, o.variances);
    b[0] = b[0] * W / r;
    b[1] = b[1] * H / r;
    b[2] = b[2] * W / r;
    b[3] = b[3] * H / r;
  }
  std::vector<int64_t> keep = nms_plus_one(boxes.data(), static_cast<int64_t>(cand.size()), 4, o.nms_threshold);
  if (o.keep_top_k >= 0 && static_cast<int64_t>(keep.size()) > o.keep_top_k) keep.resize(static_cast<size_t>(o.keep_top_k));

  std::vector<Detection> out(keep.size());
  for (size_t k = 0; k < keep.size(); ++k) {
    const int64_t c = keep[k], i = cand[static_cast<size_t>(c)];
    Detection& d = out[k];
    std::copy_n(boxes.data() + 4 * c, 4, d.box);
    d.score = conf[2 * i + 1];
    if (landms) {
      decode_landmarks(priors + 4 * i, landms + 10 * i, d.landmarks, o.variances);
      for (int p = 0; p < 5; ++p) {
        d.landmarks[2 * p] = d.landmarks[2 * p] * W / r;
        d.landmarks[2 * p + 1] = d.landmarks[2 * p + 1] * H / r;
      }
    }
  }
  return out;
}

namespace detail {
// Number of priors of a head output [n, cols] or [batch, n, cols].
inline int64_t head_rows(const Tensor<float, cpu>& t, int64_t cols, const char* name) {
  check<ShapeError>((t.rank() == 2 || t.rank() == 3) && t.dim(t.rank() - 1) == cols, "postprocess: ", name,
                    " must be [n, ", cols, "] or [batch, n, ", cols, "], got ", t.shape().str());
  return t.dim(t.rank() - 2);
}
inline int64_t head_batch(const Tensor<float, cpu>& t) { return t.rank() == 3 ? t.dim(0) : 1; }
}  // namespace detail

// A batch: loc [B,n,4], conf [B,n,2], landms [B,n,10] (or undefined), priors [n,4]; one resize
// factor per image (or a single one for all). Rank-2 inputs are a batch of one.
inline std::vector<std::vector<Detection>> postprocess(const Tensor<float, cpu>& loc, const Tensor<float, cpu>& conf,
                                                       const Tensor<float, cpu>& landms,
                                                       const Tensor<float, cpu>& priors, int64_t input_w,
                                                       int64_t input_h, const std::vector<double>& resize = {1.0},
                                                       const PostprocessOptions& o = {}) {
  const int64_t n = detail::head_rows(loc, 4, "loc"), B = detail::head_batch(loc);
  check<ShapeError>(detail::head_rows(conf, 2, "conf") == n && detail::head_batch(conf) == B,
                    "postprocess: conf ", conf.shape().str(), " does not match loc ", loc.shape().str());
  if (landms.defined())
    check<ShapeError>(detail::head_rows(landms, 10, "landms") == n && detail::head_batch(landms) == B,
                      "postprocess: landms ", landms.shape().str(), " does not match loc ", loc.shape().str());
  check<ShapeError>(priors.rank() == 2 && priors.dim(0) == n && priors.dim(1) == 4, "postprocess: priors ",
                    priors.shape().str(), " must be [", n, ", 4] to match loc ", loc.shape().str());
  check<ConfigError>(resize.size() == 1 || static_cast<int64_t>(resize.size()) == B, "postprocess: ",
                     resize.size(), " resize factors for a batch of ", B);
  std::vector<std::vector<Detection>> out;
  for (int64_t b = 0; b < B; ++b)
    out.push_back(postprocess(loc.data() + b * n * 4, conf.data() + b * n * 2,
                              landms.defined() ? landms.data() + b * n * 10 : nullptr, priors.data(), n, input_w,
                              input_h, resize.size() == 1 ? resize[0] : resize[static_cast<size_t>(b)], o));
  return out;
}

}  // namespace rfcf::detection
