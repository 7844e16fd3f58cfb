#pragma once
// Three feature maps (strides 8, 16, 32) passed between backbone, FPN, SSH and heads.
#include <array>

#include "rfcf/core/tensor.hpp"

namespace rfcf::models {

template <class T, class D>
using FeatureMaps = std::array<Tensor<T, D>, 3>;

}  // namespace rfcf::models
