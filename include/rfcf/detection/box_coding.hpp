#pragma once
// Box and landmark coding against priors, retinaface.md section 5. The operation order follows
// the float32 reference (so decoded boxes match the fixtures to the last bits except for exp()).
// All functions are per prior; T is float (inference) or double (tests, gradient checks).
#include <cmath>
#include <cstdint>

#include "rfcf/core/error.hpp"
#include "rfcf/core/hd.hpp"

namespace rfcf::detection {

struct Variances {
  double center = 0.1;  // v0
  double size = 0.2;    // v1
};

// prior = [cx, cy, w, h]; loc = [dx, dy, dw, dh]; out = [x1, y1, x2, y2] (normalised).
// RFCF_HD: the GPU post-processing decodes with the same code.
template <class T>
RFCF_HD inline void decode_box(const T* prior, const T* loc, T* out, const Variances& v = {}) {
  using std::exp;
  const T v0 = static_cast<T>(v.center), v1 = static_cast<T>(v.size);
  const T cx = prior[0] + loc[0] * v0 * prior[2];
  const T cy = prior[1] + loc[1] * v0 * prior[3];
  const T w = prior[2] * exp(loc[2] * v1);
  const T h = prior[3] * exp(loc[3] * v1);
  out[0] = cx - w / T(2);
  out[1] = cy - h / T(2);
  out[2] = w + out[0];
  out[3] = h + out[1];
}

// landm = 10 offsets (x0, y0, ..., x4, y4); out = 10 normalised coordinates.
template <class T>
RFCF_HD inline void decode_landmarks(const T* prior, const T* landm, T* out, const Variances& v = {}) {
  const T v0 = static_cast<T>(v.center);
  for (int k = 0; k < 5; ++k) {
    out[2 * k] = prior[0] + landm[2 * k] * v0 * prior[2];
    out[2 * k + 1] = prior[1] + landm[2 * k + 1] * v0 * prior[3];
  }
}

// box = [x1, y1, x2, y2] (normalised) -> regression target [tx, ty, tw, th]. RFCF_HD: matching
// on the device (matching_functors.hpp) encodes with the same code; its log may differ from the
// host's in the last bit. Degenerate boxes
// (w <= 0 or h <= 0) give -inf/NaN in the reference; callers filter them (retinaface.md 13.3).
template <class T>
RFCF_HD inline void encode_box(const T* prior, const T* box, T* out, const Variances& v = {}) {
  using std::log;
  const T v0 = static_cast<T>(v.center), v1 = static_cast<T>(v.size);
  out[0] = ((box[0] + box[2]) / T(2) - prior[0]) / (v0 * prior[2]);
  out[1] = ((box[1] + box[3]) / T(2) - prior[1]) / (v0 * prior[3]);
  out[2] = log((box[2] - box[0]) / prior[2]) / v1;
  out[3] = log((box[3] - box[1]) / prior[3]) / v1;
}

// landmarks = 10 normalised coordinates -> 10 regression targets.
template <class T>
RFCF_HD inline void encode_landmarks(const T* prior, const T* landmarks, T* out, const Variances& v = {}) {
  const T v0 = static_cast<T>(v.center);
  for (int k = 0; k < 5; ++k) {
    out[2 * k] = (landmarks[2 * k] - prior[0]) / (v0 * prior[2]);
    out[2 * k + 1] = (landmarks[2 * k + 1] - prior[1]) / (v0 * prior[3]);
  }
}

}  // namespace rfcf::detection
