#pragma once
// NaN/Inf guards that stop training with a message a user can act on.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "rfcf/core/error.hpp"

namespace rfcf::train {

// Throws rfcf::NumericError if `value` (a loss or loss part named `what`) is NaN or infinite.
inline void check_finite(double value, int64_t step, std::string_view what = "loss") {
  if (std::isfinite(value)) return;
  fail<NumericError>("training diverged: ", what, " is ", std::isnan(value) ? "NaN" : (value > 0 ? "+Inf" : "-Inf"),
                     " at step ", step,
                     "; lower the learning rate, enable gradient clipping, or check the inputs and labels "
                     "(resume from the last checkpoint)");
}

}  // namespace rfcf::train
