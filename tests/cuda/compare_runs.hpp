#pragma once
// Compares a cuda HostRun with the cpu one, tensor by tensor (relative L2 error), and names the
// worst tensor in the failure message.
#include <catch2/catch.hpp>

#include <string>

#include "cuda/device_cases.hpp"

namespace rfcf::test {

inline void compare_runs(const std::string& name, const HostRun& gpu, const HostRun& ref, double output_tol,
                         double grad_tol) {
  INFO("case " << name);
  REQUIRE(gpu.outputs.size() == ref.outputs.size());
  REQUIRE(gpu.grads.size() == ref.grads.size());
  REQUIRE(gpu.buffers.size() == ref.buffers.size());
  double worst_out = 0, worst_grad = 0;
  std::string worst_grad_name;
  for (size_t i = 0; i < gpu.outputs.size(); ++i) {
    INFO("output " << (i < ref.output_names.size() ? ref.output_names[i] : std::to_string(i)));
    REQUIRE(gpu.outputs[i].size() == ref.outputs[i].size());
    const double e = relative_error(gpu.outputs[i], ref.outputs[i]);
    worst_out = std::max(worst_out, e);
    CHECK(e < output_tol);
  }
  for (size_t i = 0; i < gpu.grads.size(); ++i) {
    INFO("gradient of " << ref.grad_names[i]);
    REQUIRE(gpu.grads[i].size() == ref.grads[i].size());
    const double e = relative_error(gpu.grads[i], ref.grads[i]);
    if (e >= worst_grad) worst_grad = e, worst_grad_name = ref.grad_names[i];
    CHECK(e < grad_tol);
  }
  for (size_t i = 0; i < gpu.buffers.size(); ++i) {
    INFO("buffer " << i);
    CHECK(relative_error(gpu.buffers[i], ref.buffers[i]) < output_tol);
  }
  WARN(name << ": worst output rel. error " << worst_out << ", worst gradient rel. error " << worst_grad << " ("
            << worst_grad_name << ", " << gpu.grads.size() << " parameters)");
}

}  // namespace rfcf::test
