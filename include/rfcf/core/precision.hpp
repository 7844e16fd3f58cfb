#pragma once
// Compute precision of convolutions and matrix products, chosen per thread like torch.autocast:
//
//   { rfcf::Autocast guard(rfcf::ComputePrecision::bf16);   // this thread, until the guard ends
//     auto y = model.forward(x); ... model.backward(dy); }
//
// Under bf16 / fp16, nn::Conv2d, nn::Linear and the recognition margin head (T = float only)
// multiply 16-bit copies of their inputs and weights with fp32 accumulation (tensor cores on
// cuda, an exact emulation on the cpu; see ops/mixed_precision.hpp). Parameters, gradients,
// optimizer state and every other layer (batch norm, activations, losses) stay fp32, so the
// fp32 parameters are the master weights. Layers remember the precision of their forward and
// use it in backward, so backward may run outside the guard.
#include <cstdint>
#include <string>
#include <type_traits>

#include "rfcf/core/error.hpp"

namespace rfcf {

enum class ComputePrecision : uint8_t { fp32, bf16, fp16 };

inline const char* precision_name(ComputePrecision p) {
  switch (p) {
    case ComputePrecision::bf16: return "bf16";
    case ComputePrecision::fp16: return "fp16";
    default: return "fp32";
  }
}

// "fp32" | "bf16" | "fp16" (also "float32", "bfloat16", "float16", "half").
inline ComputePrecision parse_precision(const std::string& s) {
  if (s == "fp32" || s == "float32" || s == "float") return ComputePrecision::fp32;
  if (s == "bf16" || s == "bfloat16") return ComputePrecision::bf16;
  if (s == "fp16" || s == "float16" || s == "half") return ComputePrecision::fp16;
  fail<ConfigError>("unknown precision '", s, "' (fp32, bf16 or fp16)");
}

namespace precision_detail {
inline ComputePrecision& current() {
  thread_local ComputePrecision p = ComputePrecision::fp32;
  return p;
}
}  // namespace precision_detail

// The calling thread's compute precision (fp32 unless an Autocast guard is active).
inline ComputePrecision compute_precision() { return precision_detail::current(); }

// What a layer of value type T computes in: the thread's precision for float, fp32 otherwise
// (double models stay exact, e.g. for gradient checks).
template <class T>
ComputePrecision compute_precision_for() {
  return std::is_same_v<T, float> ? compute_precision() : ComputePrecision::fp32;
}

// Sets the thread's compute precision for its lifetime and restores the previous one.
class Autocast {
 public:
  explicit Autocast(ComputePrecision p) : previous_(precision_detail::current()) { precision_detail::current() = p; }
  ~Autocast() { precision_detail::current() = previous_; }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  ComputePrecision previous_;
};

}  // namespace rfcf
