// Every nn layer forward + backward on cuda against the cpu backend with identical weights and
// inputs (device_cases.hpp; the cpu side is compiled by g++ in cpu_cases.cpp).
#include <catch2/catch.hpp>

#include "cuda/compare_runs.hpp"
#include "cuda/device_cases.hpp"
#include "rfcf/cuda.cuh"

using namespace rfcf;
using namespace rfcf::test;

TEST_CASE("cuda layers match the cpu backend (forward, dx, parameter gradients)", "[cuda][layers]") {
  for (const std::string& name : layer_case_names()) {
    SECTION(name) {
      HostWeights w;
      const HostRun gpu = run_layer_case<cuda>(name, w, true);
      const HostRun ref = layer_case_cpu(name, w);
      compare_runs(name, gpu, ref, 1e-4, 1e-4);
    }
  }
}

TEST_CASE("ReduceOp<cuda> and SoftmaxOp<cuda> on large and odd sizes", "[cuda][reduce]") {
  const int64_t n = (int64_t{1} << 20) + 37;
  const std::vector<float> hv = random_vector<float>(static_cast<size_t>(n), 5);
  const auto x = Tensor<float, cuda>::from_host(Shape{n}, hv);
  double s = 0, ss = 0;
  for (float v : hv) s += v, ss += static_cast<double>(v) * v;
  CHECK(std::abs(ops::sum(x) - s) < 1e-9 * ss);
  CHECK(std::abs(ops::sum_squares(x) - ss) < 1e-9 * ss);
  CHECK(std::abs(ops::dot(x, x) - ss) < 1e-9 * ss);
  CHECK(ops::sum(Tensor<float, cuda>(Shape{0})) == 0.0);

  // channel sums over [outer, c, inner] with short and long inner extents
  for (const Shape& shape : {Shape{3, 5, 7}, Shape{4, 3, 300}, Shape{1, 1000, 2}}) {
    const std::vector<float> hx = random_vector<float>(static_cast<size_t>(shape.numel()), 6);
    const auto cs = ops::channel_sum(Tensor<float, cuda>::from_host(shape, hx)).to_vector();
    std::vector<double> expect(static_cast<size_t>(shape[1]), 0.0);
    for (int64_t o = 0; o < shape[0]; ++o)
      for (int64_t k = 0; k < shape[1]; ++k)
        for (int64_t j = 0; j < shape[2]; ++j) expect[k] += hx[(o * shape[1] + k) * shape[2] + j];
    CHECK(relative_error(std::vector<double>(cs.begin(), cs.end()), expect) < 1e-6);
  }

  // softmax rows of 2 (detection) and 70000 (recognition logits)
  for (const Shape& shape : {Shape{1000, 2}, Shape{3, 70000}}) {
    const std::vector<float> hx = random_vector<float>(static_cast<size_t>(shape.numel()), 7, -20.0, 20.0);
    const auto t = Tensor<float, cuda>::from_host(shape, hx);
    const auto y = ops::softmax(t).to_vector(), ly = ops::log_softmax(t).to_vector();
    double worst = 0, worst_log = 0;
    for (int64_t r = 0; r < shape[0]; ++r) {
      const float* xr = hx.data() + r * shape[1];
      const double mx = *std::max_element(xr, xr + shape[1]);
      double z = 0;
      for (int64_t j = 0; j < shape[1]; ++j) z += std::exp(xr[j] - mx);
      for (int64_t j = 0; j < shape[1]; ++j) {
        const double p = std::exp(xr[j] - mx) / z, lp = xr[j] - mx - std::log(z);
        worst = std::max(worst, std::abs(y[r * shape[1] + j] - p));
        worst_log = std::max(worst_log, std::abs(ly[r * shape[1] + j] - lp) / std::max(1.0, std::abs(lp)));
      }
    }
    CHECK(worst < 1e-6);
    CHECK(worst_log < 1e-5);
  }
}

TEST_CASE("BatchNormOp<cuda> statistics of a large channel keep fp32 precision", "[cuda][batchnorm]") {
  // mean 1000, std 0.01: E[x^2] - E[x]^2 in fp32 would lose every digit of the variance
  const Shape s{8, 2, 64, 64};
  std::vector<float> hx = random_vector<float>(static_cast<size_t>(s.numel()), 8, -0.0173, 0.0173);
  for (auto& v : hx) v += 1000.0f;
  const auto x = Tensor<float, cuda>::from_host(s, hx);
  Tensor<float, cuda> mean(Shape{2}), var(Shape{2});
  ops::BatchNormOp<cuda>::stats(x.data(), 8, 2, 64 * 64, mean.data(), var.data());
  const auto hm = mean.to_vector(), hvar = var.to_vector();
  for (int k = 0; k < 2; ++k) {
    double m = 0, v = 0, cnt = 8 * 64 * 64;
    for (int o = 0; o < 8; ++o)
      for (int j = 0; j < 64 * 64; ++j) m += hx[(o * 2 + k) * 4096 + j];
    m /= cnt;
    for (int o = 0; o < 8; ++o)
      for (int j = 0; j < 64 * 64; ++j) v += (hx[(o * 2 + k) * 4096 + j] - m) * (hx[(o * 2 + k) * 4096 + j] - m);
    v /= cnt;
    CHECK(std::abs(hm[k] - m) < 1e-4);
    CHECK(std::abs(hvar[k] - v) < 1e-3 * v);
  }
}
