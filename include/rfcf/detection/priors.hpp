#pragma once
// RetinaFace prior (anchor) boxes, retinaface.md section 4. Priors are [cx, cy, w, h] in
// coordinates normalised by the network input size; they depend on that size, so PriorCache
// keeps one table per (height, width).
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::detection {

struct PriorBoxOptions {
  std::vector<std::vector<double>> min_sizes;  // per level, in input pixels
  std::vector<int> steps;                       // feature stride per level
  bool clip = false;                            // clamp to [0, 1] (the reference does not)

  // Official Pytorch_Retinaface MobileNet-0.25 / ResNet-50 anchors (shared/models/retinaface_mnet025.pth).
  static PriorBoxOptions official() { return {{{16, 32}, {64, 128}, {256, 512}}, {8, 16, 32}, false}; }
  // Face-Detector-1MB mobilenet0.25 anchors (training size 300).
  static PriorBoxOptions face_detector_1mb() { return {{{10, 20}, {32, 64}, {128, 256}}, {8, 16, 32}, false}; }

  void validate() const {
    check<ConfigError>(!min_sizes.empty() && min_sizes.size() == steps.size(), "PriorBoxOptions: ",
                       min_sizes.size(), " min_sizes levels but ", steps.size(), " steps");
    for (size_t k = 0; k < steps.size(); ++k) {
      check<ConfigError>(steps[k] > 0, "PriorBoxOptions: step ", steps[k], " at level ", k, " must be positive");
      check<ConfigError>(!min_sizes[k].empty(), "PriorBoxOptions: level ", k, " has no min_sizes");
      for (double m : min_sizes[k])
        check<ConfigError>(m > 0 && std::isfinite(m), "PriorBoxOptions: min_size ", m, " at level ", k,
                           " must be positive");
    }
  }
  int64_t count(int64_t height, int64_t width) const {
    int64_t n = 0;
    for (size_t k = 0; k < steps.size(); ++k)
      n += ((height + steps[k] - 1) / steps[k]) * ((width + steps[k] - 1) / steps[k]) *
           static_cast<int64_t>(min_sizes[k].size());
    return n;
  }
};

// Prior table [N, 4] for an input of height x width: level, row, column, min_size (innermost);
// computed in double and rounded once to float.
inline Tensor<float, cpu> make_priors(const PriorBoxOptions& o, int64_t height, int64_t width) {
  o.validate();
  check<ShapeError>(height > 0 && width > 0, "make_priors: input size ", height, "x", width, " must be positive");
  Tensor<float, cpu> out(Shape{o.count(height, width), 4});
  float* p = out.data();
  const double W = static_cast<double>(width), H = static_cast<double>(height);
  auto put = [&](double v) { *p++ = static_cast<float>(o.clip ? std::min(1.0, std::max(0.0, v)) : v); };
  for (size_t k = 0; k < o.steps.size(); ++k) {
    const int64_t s = o.steps[k];
    const int64_t fh = (height + s - 1) / s, fw = (width + s - 1) / s;
    for (int64_t i = 0; i < fh; ++i)
      for (int64_t j = 0; j < fw; ++j)
        for (double m : o.min_sizes[k]) {
          put((static_cast<double>(j) + 0.5) * static_cast<double>(s) / W);
          put((static_cast<double>(i) + 0.5) * static_cast<double>(s) / H);
          put(m / W);
          put(m / H);
        }
  }
  return out;
}

// Thread-safe cache of prior tables keyed by input size. Returned tensors share storage
// with the cache: treat them as read-only.
class PriorCache {
 public:
  explicit PriorCache(PriorBoxOptions o) : options_(std::move(o)) { options_.validate(); }
  const PriorBoxOptions& options() const { return options_; }
  Tensor<float, cpu> get(int64_t height, int64_t width) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto key = std::make_pair(height, width);
    auto it = tables_.find(key);
    if (it == tables_.end()) it = tables_.emplace(key, make_priors(options_, height, width)).first;
    return it->second;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return tables_.size();
  }

 private:
  PriorBoxOptions options_;
  mutable std::mutex mutex_;
  std::map<std::pair<int64_t, int64_t>, Tensor<float, cpu>> tables_;
};

}  // namespace rfcf::detection
