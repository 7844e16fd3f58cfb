// The cpu side of device_cases.hpp, compiled by the C++ compiler with the real cpu backends.
#include "rfcf/cpu.hpp"
#include "cuda/device_cases.hpp"

namespace rfcf::test {

HostRun layer_case_cpu(const std::string& name, const HostWeights& w) {
  HostWeights copy = w;
  return run_layer_case<cpu>(name, copy, false);
}

HostRun model_case_cpu(const std::string& name, const HostWeights& w) {
  HostWeights copy = w;
  return run_model_case<cpu>(name, copy, false);
}

}  // namespace rfcf::test
