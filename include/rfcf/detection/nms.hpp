#pragma once
// Greedy NMS with the reference's +1 pixel area convention (retinaface.md 9.2 step 5), in float32
// like the reference. Input boxes must already be in the order of preference (descending
// score); the result lists kept indices in that order, so ties keep their input order.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/hd.hpp"

namespace rfcf::detection {

// IoU with the +1 convention: area = (x2 - x1 + 1)(y2 - y1 + 1). RFCF_HD: the GPU NMS mask uses it.
RFCF_HD inline float iou_plus_one(const float* a, const float* b) {
  const float area_a = (a[2] - a[0] + 1.0f) * (a[3] - a[1] + 1.0f);
  const float area_b = (b[2] - b[0] + 1.0f) * (b[3] - b[1] + 1.0f);
  const float x1 = a[0] > b[0] ? a[0] : b[0], y1 = a[1] > b[1] ? a[1] : b[1];
  const float x2 = a[2] < b[2] ? a[2] : b[2], y2 = a[3] < b[3] ? a[3] : b[3];
  const float w = x2 - x1 + 1.0f > 0.0f ? x2 - x1 + 1.0f : 0.0f;
  const float h = y2 - y1 + 1.0f > 0.0f ? y2 - y1 + 1.0f : 0.0f;
  const float inter = w * h;
  return inter / (area_a + area_b - inter);
}

// boxes: n rows of `stride` floats starting with [x1, y1, x2, y2]. A box is dropped when its IoU
// with an already kept box is > threshold (IoU <= threshold survives).
inline std::vector<int64_t> nms_plus_one(const float* boxes, int64_t n, int64_t stride, float threshold) {
  check<ShapeError>(n >= 0 && stride >= 4, "nms: need n >= 0 boxes with at least 4 values each (got n=", n,
                    ", stride=", stride, ")");
  std::vector<int64_t> keep;
  std::vector<char> removed(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep.push_back(i);
    const float* a = boxes + i * stride;
    for (int64_t j = i + 1; j < n; ++j)
      if (!removed[j] && iou_plus_one(a, boxes + j * stride) > threshold) removed[j] = 1;
  }
  return keep;
}

}  // namespace rfcf::detection
