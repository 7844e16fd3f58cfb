#pragma once
// Per-element flags (weight decay on/off, frozen) for a flat parameter buffer, so one pass of
// an optimizer functor honours every segment's settings. When every parameter decays and none
// is frozen no mask is stored (data() is nullptr) and the functors skip the lookup.
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/train/functors.hpp"

namespace rfcf::train {

template <class D>
class ParameterFlags {
 public:
  ParameterFlags() = default;
  explicit ParameterFlags(const std::vector<nn::ParameterSegment>& segments, int64_t numel) {
    bool uniform = true;
    for (const auto& s : segments) uniform = uniform && s.weight_decay && !s.frozen;
    if (uniform) return;
    // Alignment padding between segments is marked frozen: it is never touched.
    std::vector<uint8_t> host(static_cast<size_t>(numel), functors::kFrozen);
    for (const auto& s : segments) {
      const uint8_t f = s.frozen ? functors::kFrozen : (s.weight_decay ? functors::kDecay : uint8_t(0));
      for (int64_t i = 0; i < s.numel; ++i) host[static_cast<size_t>(s.offset + i)] = f;
    }
    mask_ = Tensor<uint8_t, D>::from_host(Shape{numel}, host);
  }
  // nullptr: every element decays and is trainable.
  const uint8_t* data() const { return mask_.defined() ? mask_.data() : nullptr; }

 private:
  Tensor<uint8_t, D> mask_;
};

// Views of a flat per-parameter state buffer (momentum, exp_avg, ...) shaped like each
// parameter, named "<parameter name>.<suffix>" so checkpoints survive layout changes.
template <class T, class D, class F>
void for_each_state_view(const std::vector<nn::ParameterSegment>& segments, const Tensor<T, D>& flat,
                         const std::string& suffix, F&& f) {
  for (const auto& s : segments) {
    Tensor<T, D> v = flat.slice_batch(s.offset, s.numel);
    f(nn::join_name(s.name, suffix), v);
  }
}

}  // namespace rfcf::train
