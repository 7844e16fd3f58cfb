#pragma once
// One composite network built from device-generic layers, instantiated for cpu in
// cpu_reference.cpp and for cuda in the .cu tests: the same code on two devices.
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/sequential.hpp"

namespace rfcf::test {

// [N, C, H, W] -> [N, 2C, H, W]
template <class D>
auto make_layer_stack() {
  using namespace rfcf::nn;
  return Sequential{Residual{Sequential{LeakyReLU<float, D>(0.1), ReLU<float, D>()}},
                    Concat{ReLU<float, D>(), LeakyReLU<float, D>(0.2)}, LeakyReLU<float, D>(0.05)};
}

}  // namespace rfcf::test
