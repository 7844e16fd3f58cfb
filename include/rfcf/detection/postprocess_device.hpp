#pragma once
// RetinaFace post-processing on the device that ran the network (retinaface.md 9.2, the same
// result as postprocess.hpp): scores thresholded and sorted on the device (CUB radix sort on
// cuda), the top-k candidates decoded there, and a bitmask NMS computed there. Only the candidate
// count, the k x ceil(k/64) NMS mask and the k decoded candidates reach the host; no per-prior
// data does. Device-generic: needs SortOp<D> and ReduceOp<D> (rfcf/cpu.hpp or rfcf/cuda.cuh).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/detection/postprocess_functors.hpp"
#include "rfcf/ops/reduce.hpp"
#include "rfcf/ops/sort.hpp"

namespace rfcf::detection {

// One image; every pointer is memory of device D: loc [n,4], conf [n,2] (softmaxed), landms
// [n,10] or null, priors [n,4].
template <class D>
std::vector<Detection> postprocess_on_device(const float* loc, const float* conf, const float* landms,
                                             const float* priors, int64_t n, int64_t input_w, int64_t input_h,
                                             double resize = 1.0, const PostprocessOptions& o = {}) {
  o.validate();
  check<ShapeError>(n >= 0 && input_w > 0 && input_h > 0, "postprocess_on_device: bad sizes n=", n, " input ",
                    input_w, "x", input_h);
  check<ConfigError>(resize > 0, "postprocess_on_device: resize factor ", resize, " must be positive");
  if (n == 0) return {};
  Tensor<float, D> keys(Shape{n}), is_candidate(Shape{n});
  Executor<D>::for_each(n, postproc::CandidateKeys{conf, o.conf_threshold, keys.data(), is_candidate.data()});
  int64_t k = std::llround(ops::ReduceOp<D>::sum(is_candidate.data(), n));
  if (o.top_k >= 0) k = std::min(k, o.top_k);
  if (k == 0) return {};

  Tensor<float, D> sorted(Shape{n});
  Tensor<int32_t, D> order(Shape{n});
  ops::SortOp<D>::sort_descending(keys.data(), n, sorted.data(), order.data());
  Tensor<float, D> boxes(Shape{k, 4}), landmarks(Shape{k, 10});
  Executor<D>::for_each(k, postproc::DecodeCandidate{order.data(), loc, landms, priors, static_cast<float>(input_w),
                                                     static_cast<float>(input_h), static_cast<float>(resize),
                                                     o.variances, boxes.data(), landmarks.data()});
  const int64_t words = (k + 63) / 64;
  Tensor<uint64_t, D> mask(Shape{k, words});
  Executor<D>::for_each(k * words, postproc::NmsMask{boxes.data(), k, words, o.nms_threshold, mask.data()});

  const std::vector<uint64_t> host_mask = mask.to_vector();
  std::vector<int64_t> keep = postproc::nms_keep_from_mask(host_mask.data(), k, words);
  if (o.keep_top_k >= 0 && static_cast<int64_t>(keep.size()) > o.keep_top_k)
    keep.resize(static_cast<size_t>(o.keep_top_k));
  const std::vector<float> host_boxes = boxes.to_vector(), host_landmarks = landmarks.to_vector();
  const std::vector<float> scores = sorted.slice_batch(0, k).to_vector();
  std::vector<Detection> out(keep.size());
  for (size_t d = 0; d < keep.size(); ++d) {
    const size_t c = static_cast<size_t>(keep[d]);
    std::copy_n(host_boxes.data() + 4 * c, 4, out[d].box);
    std::copy_n(host_landmarks.data() + 10 * c, 10, out[d].landmarks);
    out[d].score = scores[c];
  }
  return out;
}

// A batch on device D: loc [B,n,4], conf [B,n,2], landms [B,n,10] (or undefined), priors [n,4];
// one resize factor per image or one for all.
template <class D>
std::vector<std::vector<Detection>> postprocess_on_device(const Tensor<float, D>& loc, const Tensor<float, D>& conf,
                                                          const Tensor<float, D>& landms,
                                                          const Tensor<float, D>& priors, int64_t input_w,
                                                          int64_t input_h, const std::vector<double>& resize = {1.0},
                                                          const PostprocessOptions& o = {}) {
  check<ShapeError>(loc.rank() == 3 && loc.dim(2) == 4, "postprocess_on_device: loc must be [B, n, 4], got ",
                    loc.shape().str());
  const int64_t B = loc.dim(0), n = loc.dim(1);
  check<ShapeError>(conf.rank() == 3 && conf.dim(0) == B && conf.dim(1) == n && conf.dim(2) == 2,
                    "postprocess_on_device: conf ", conf.shape().str(), " does not match loc ", loc.shape().str());
  if (landms.defined())
    check<ShapeError>(landms.rank() == 3 && landms.dim(0) == B && landms.dim(1) == n && landms.dim(2) == 10,
                      "postprocess_on_device: landms ", landms.shape().str(), " does not match loc ",
                      loc.shape().str());
  check<ShapeError>(priors.rank() == 2 && priors.dim(0) == n && priors.dim(1) == 4, "postprocess_on_device: priors ",
                    priors.shape().str(), " must be [", n, ", 4]");
  check<ConfigError>(resize.size() == 1 || static_cast<int64_t>(resize.size()) == B, "postprocess_on_device: ",
                     resize.size(), " resize factors for a batch of ", B);
  std::vector<std::vector<Detection>> out;
  for (int64_t b = 0; b < B; ++b)
    out.push_back(postprocess_on_device<D>(loc.data() + b * n * 4, conf.data() + b * n * 2,
                                           landms.defined() ? landms.data() + b * n * 10 : nullptr, priors.data(), n,
                                           input_w, input_h, resize.size() == 1 ? resize[0] : resize[size_t(b)], o));
  return out;
}

}  // namespace rfcf::detection
