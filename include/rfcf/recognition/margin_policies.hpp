#pragma once
// Margin policies of the face-recognition heads (recognition.md 1-4). A policy maps the clamped
// cosine c of each (sample, class) pair to the value f(c) that is multiplied by the scale s to give
// the logit, together with the derivative df/dc that backward uses. The math is written once as
// RFCF_HD member functions so that the host executor and CUDA kernels share it.
//
// Interface of a policy P (all members trivially copyable, so P can be passed to a kernel):
//   double s;                                     logit scale
//   static constexpr bool uses_t;                 true for CurricularFace (adaptive t buffer)
//   RowState<T> row_state(T c_y, T t) const;      per-row context (phi of the hard mask, t)
//   MarginValue<T> target(T c_y) const;           f and df/dc of the target column
//   MarginValue<T> negative(T c, RowState<T>) const;  f and df/dc of a non-target column
#include <cmath>
#include <cstdint>

#include "rfcf/core/error.hpp"
#include "rfcf/core/hd.hpp"

namespace rfcf::recognition {

// f(c) and df/dc.
template <class T>
struct MarginValue {
  T value;
  T grad;
};

// What the negatives of one row need: the (un-thresholded) cos(theta_y + m) of the hard mask
// and the adaptive t. Policies without modulation ignore it.
template <class T>
struct RowState {
  T phi;
  T t;
};

namespace margin_math {

// 1 - c^2 is clamped at this value where it divides (recognition.md 12.1): at c = +-1 the exact
// derivative of cos(acos(c) + m) is infinite; the guard keeps it finite (about 3.2e4 * sin m).
inline constexpr double kSinGuard = 1e-9;

// sin(theta) = sqrt(1 - c^2) for c in [-1, 1] (value exact, no epsilon).
template <class T>
RFCF_HD inline T sin_of(T c) {
  const T r = T(1) - c * c;
  return r > T(0) ? std::sqrt(r) : T(0);
}
// sin(theta) for use as a divisor: sqrt(max(1 - c^2, 1e-9)).
template <class T>
RFCF_HD inline T guarded_sin_of(T c) {
  const T r = T(1) - c * c;
  return std::sqrt(r > T(kSinGuard) ? r : T(kSinGuard));
}
// cos(theta + m) = c cos m - sin(theta) sin m, and its exact derivative
// d/dc = cos m + sin m * c / sin(theta) (= sin(theta + m) / sin(theta)).
template <class T>
RFCF_HD inline MarginValue<T> cos_plus_margin(T c, T cos_m, T sin_m) {
  return {c * cos_m - sin_of(c) * sin_m, cos_m + sin_m * c / guarded_sin_of(c)};
}
// cos(m1 * theta + m2) - m3 and its derivative m1 * sin(m1 theta + m2) / sin(theta).
template <class T>
RFCF_HD inline MarginValue<T> combined_margin(T c, T m1, T m2, T m3) {
  const T cc = c > T(1) ? T(1) : (c < T(-1) ? T(-1) : c);
  const T angle = m1 * std::acos(cc) + m2;
  return {std::cos(angle) - m3, m1 * std::sin(angle) / guarded_sin_of(cc)};
}

}  // namespace margin_math

// Normalised softmax (no margin): f(c) = c. Combined (1, 0, 0) in the MXNet presets.
struct Softmax {
  double s = 64.0;
  static constexpr bool uses_t = false;

  Softmax() = default;
  explicit Softmax(double scale) : s(scale) {}

  template <class T>
  RFCF_HD RowState<T> row_state(T, T t) const { return {T(0), t}; }
  template <class T>
  RFCF_HD MarginValue<T> target(T c) const { return {c, T(1)}; }
  template <class T>
  RFCF_HD MarginValue<T> negative(T c, const RowState<T>&) const { return {c, T(1)}; }
};

// CosFace (recognition.md 4.1): target c_y - m3.
struct CosFace {
  double s = 64.0;
  double m3 = 0.4;
  static constexpr bool uses_t = false;

  CosFace() = default;
  explicit CosFace(double margin, double scale = 64.0) : s(scale), m3(margin) {}

  template <class T>
  RFCF_HD RowState<T> row_state(T, T t) const { return {T(0), t}; }
  template <class T>
  RFCF_HD MarginValue<T> target(T c) const { return {c - T(m3), T(1)}; }
  template <class T>
  RFCF_HD MarginValue<T> negative(T c, const RowState<T>&) const { return {c, T(1)}; }
};

// Which branch ArcFace takes where cos(theta + m) is not monotone (recognition.md 3.1).
enum class ArcFaceVariant {
  non_easy,  // phi if c_y > cos(pi - m), else c_y - m sin m (official default)
  easy,      // phi if c_y > 0, else c_y (easy_margin)
  none,      // phi = cos(theta + m) everywhere (arcface_torch 2021-03 and since 2022-12)
};
// How the gradient flows through the target (recognition.md 3.2).
enum class MarginGradient {
  exact,             // derivative of the target expression (autograd of the official code)
  straight_through,  // derivative 1, as if the margin were added without autograd (arcface_torch >= 2022-12)
};

// ArcFace (recognition.md 3): target cos(theta_y + m2).
struct ArcFace {
  double s = 64.0;
  double m = 0.5;
  ArcFaceVariant variant = ArcFaceVariant::non_easy;
  MarginGradient gradient = MarginGradient::exact;
  double cos_m = 0, sin_m = 0, threshold = 0, mm = 0;
  static constexpr bool uses_t = false;

  ArcFace() : ArcFace(0.5) {}
  explicit ArcFace(double margin, double scale = 64.0, ArcFaceVariant v = ArcFaceVariant::non_easy,
                   MarginGradient g = MarginGradient::exact)
      : s(scale), m(margin), variant(v), gradient(g) {
    check<ConfigError>(margin >= 0 && margin < 3.14159265358979, "ArcFace: margin ", margin,
                       " must lie in [0, pi)");
    cos_m = std::cos(m);
    sin_m = std::sin(m);
    threshold = std::cos(3.14159265358979323846 - m);
    mm = std::sin(3.14159265358979323846 - m) * m;
  }
  // The arcface_torch head since December 2022: no threshold, straight-through gradient.
  static ArcFace arcface_torch(double margin = 0.5, double scale = 64.0) {
    return ArcFace(margin, scale, ArcFaceVariant::none, MarginGradient::straight_through);
  }

  template <class T>
  RFCF_HD RowState<T> row_state(T, T t) const { return {T(0), t}; }
  template <class T>
  RFCF_HD MarginValue<T> target(T c) const {
    MarginValue<T> r;
    if (variant == ArcFaceVariant::non_easy && !(c > T(threshold))) r = {c - T(mm), T(1)};
    else if (variant == ArcFaceVariant::easy && !(c > T(0))) r = {c, T(1)};
    else r = margin_math::cos_plus_margin(c, T(cos_m), T(sin_m));
    if (gradient == MarginGradient::straight_through) r.grad = T(1);
    return r;
  }
  template <class T>
  RFCF_HD MarginValue<T> negative(T c, const RowState<T>&) const { return {c, T(1)}; }
};

// How Combined interprets (m1, m2, m3) (recognition.md 4.2).
enum class CombinedMode {
  mxnet,          // cos(m1 theta + m2) - m3 with gradient through arccos; (1, 0, m3) is c - m3
  arcface_torch,  // m1 = 1 and m3 = 0: ArcFace straight-through; else m3 > 0: CosFace m3 only
};

struct Combined {
  double s = 64.0;
  double m1 = 1.0, m2 = 0.3, m3 = 0.2;
  CombinedMode mode = CombinedMode::mxnet;
  static constexpr bool uses_t = false;

  Combined() = default;
  Combined(double a, double b, double c, double scale = 64.0, CombinedMode md = CombinedMode::mxnet)
      : s(scale), m1(a), m2(b), m3(c), mode(md) {
    check<ConfigError>(m1 > 0, "Combined margin: m1 = ", m1, " must be positive");
    if (mode == CombinedMode::arcface_torch)
      check<ConfigError>((m1 == 1.0 && m3 == 0.0) || m3 > 0.0, "Combined margin (arcface_torch mode): (",
                         m1, ", ", m2, ", ", m3, ") is neither ArcFace (m1 = 1, m3 = 0) nor CosFace (m3 > 0)");
  }

  template <class T>
  RFCF_HD RowState<T> row_state(T, T t) const { return {T(0), t}; }
  template <class T>
  RFCF_HD MarginValue<T> target(T c) const {
    if (mode == CombinedMode::arcface_torch) {
      if (m1 == 1.0 && m3 == 0.0) return {margin_math::combined_margin(c, T(1), T(m2), T(0)).value, T(1)};
      return {c - T(m3), T(1)};  // m1 and m2 are ignored, as in arcface_torch
    }
    if (m1 == 1.0 && m2 == 0.0) return {c - T(m3), T(1)};
    return margin_math::combined_margin(c, T(m1), T(m2), T(m3));
  }
  template <class T>
  RFCF_HD MarginValue<T> negative(T c, const RowState<T>&) const { return {c, T(1)}; }
};

// CurricularFace as the official code (recognition.md 2): ArcFace non-easy target; negatives with
// c > phi (strict; phi the un-thresholded cos(theta_y + m)) become c (t + c). t is a constant for the
// gradient and is updated before use by the head: t <- alpha mean(c_y) + (1 - alpha) t.
struct CurricularFace {
  double s = 64.0;
  double m = 0.5;
  double alpha = 0.01;  // weight of the new batch mean (0.01 in the code; TFace uses 0.1)
  double cos_m = 0, sin_m = 0, threshold = 0, mm = 0;
  static constexpr bool uses_t = true;

  CurricularFace() : CurricularFace(0.5) {}
  explicit CurricularFace(double margin, double scale = 64.0, double momentum_alpha = 0.01)
      : s(scale), m(margin), alpha(momentum_alpha) {
    check<ConfigError>(margin >= 0 && margin < 3.14159265358979, "CurricularFace: margin ", margin,
                       " must lie in [0, pi)");
    check<ConfigError>(alpha >= 0 && alpha <= 1, "CurricularFace: alpha ", alpha, " must lie in [0, 1]");
    cos_m = std::cos(m);
    sin_m = std::sin(m);
    threshold = std::cos(3.14159265358979323846 - m);
    mm = std::sin(3.14159265358979323846 - m) * m;
  }

  template <class T>
  RFCF_HD RowState<T> row_state(T c_y, T t) const {
    return {c_y * T(cos_m) - margin_math::sin_of(c_y) * T(sin_m), t};
  }
  template <class T>
  RFCF_HD MarginValue<T> target(T c) const {
    if (c > T(threshold)) return margin_math::cos_plus_margin(c, T(cos_m), T(sin_m));
    return {c - T(mm), T(1)};
  }
  template <class T>
  RFCF_HD MarginValue<T> negative(T c, const RowState<T>& row) const {
    if (c > row.phi) return {c * (row.t + c), row.t + T(2) * c};
    return {c, T(1)};
  }
  // The t update of one step from the mean target cosine (done on the host, without gradient).
  double updated_t(double mean_c_y, double t) const { return alpha * mean_c_y + (1.0 - alpha) * t; }
};

}  // namespace rfcf::recognition
