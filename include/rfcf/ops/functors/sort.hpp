#pragma once
// Index helpers of the device sorts: position within a run, and run start offsets.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// out[i] = i mod length (the value array a sort permutes into indices within each run).
struct IndexInRun {
  int32_t* out;
  int64_t length;
  RFCF_HD void operator()(int64_t i) const { out[i] = static_cast<int32_t>(i % length); }
};

// out[s] = s * length (begin offsets; out[s + 1] ends run s).
struct RunOffset {
  int32_t* out;
  int64_t length;
  RFCF_HD void operator()(int64_t s) const { out[s] = static_cast<int32_t>(s * length); }
};

}  // namespace rfcf::functors
