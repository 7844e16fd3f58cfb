// Whole models on cuda against the cpu backend with identical weights (copied parameter by
// parameter): RetinaFace-MobileNet0.25 eval forward and training backward, MobileFaceNet and
// IResNet-18 training forward + backward (small inputs to keep the cpu reference quick).
#include <catch2/catch.hpp>

#include "cuda/compare_runs.hpp"
#include "cuda/device_cases.hpp"
#include "rfcf/cuda.cuh"

using namespace rfcf;
using namespace rfcf::test;

TEST_CASE("cuda models match the cpu backend", "[cuda][models]") {
  for (const std::string& name : model_case_names()) {
    SECTION(name) {
      HostWeights w;
      const HostRun gpu = run_model_case<cuda>(name, w, true);
      const HostRun ref = model_case_cpu(name, w);
      // Deep stacks of convolutions and batch statistics amplify rounding differences (cuDNN
      // picks other summation orders than the cpu GEMM): per-parameter gradients get 1e-3.
      compare_runs(name, gpu, ref, 1e-4, 1e-3);
    }
  }
}
