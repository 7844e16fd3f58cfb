// CPU convolution speed on the shapes of the RetinaFace/MobileNet backbone, 2 threads.
// The PyTorch anchor is torch_ops_cpu.py (same shapes); run_ops_cpu.sh prints the table.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

#include "rfcf/rfcf.hpp"

namespace {

using rfcf::cpu;
using TensorF = rfcf::Tensor<float, cpu>;

struct ConvShape {
  int64_t n, cin, h, w, cout, k, stride, pad, groups;
  rfcf::ops::Conv2dGeometry geometry() const {
    rfcf::ops::Conv2dGeometry g;
    g.kernel_h = g.kernel_w = k, g.stride_h = g.stride_w = stride, g.pad_h = g.pad_w = pad, g.groups = groups;
    return g;
  }
};

// Same names and shapes as torch_ops_cpu.py.
const ConvShape kConv3x3{1, 64, 160, 160, 64, 3, 1, 1, 1};
const ConvShape kConv1x1{1, 128, 40, 40, 256, 1, 1, 0, 1};
const ConvShape kDwConv3x3{1, 256, 40, 40, 256, 3, 1, 1, 256};

TensorF random_tensor(const rfcf::Shape& s, rfcf::Generator& gen) {
  TensorF t(s);
  rfcf::init::uniform(t, gen, -1.0, 1.0);
  return t;
}

struct ConvData {
  rfcf::ops::Conv2dGeometry g;
  TensorF x, w, dy, dw;
  explicit ConvData(const ConvShape& s) : g(s.geometry()) {
    rfcf::Generator gen(0);
    x = random_tensor(rfcf::Shape{s.n, s.cin, s.h, s.w}, gen);
    w = random_tensor(rfcf::Shape{s.cout, s.cin / s.groups, s.k, s.k}, gen);
    dy = random_tensor(rfcf::Shape{s.n, s.cout, g.out_h(s.h), g.out_w(s.w)}, gen);
    dw = rfcf::zeros<float, cpu>(w.shape());
  }
};

void conv_forward(benchmark::State& state, ConvShape s) {
  ConvData d(s);
  for (auto _ : state) benchmark::DoNotOptimize(rfcf::ops::Conv2dOp<cpu>::forward(d.g, d.x, d.w, nullptr).data());
}

// Backward = gradient w.r.t. the input + (accumulated) gradient w.r.t. the weight.
void conv_backward(benchmark::State& state, ConvShape s) {
  ConvData d(s);
  for (auto _ : state) {
    auto dx = rfcf::ops::Conv2dOp<cpu>::backward_data(d.g, d.dy, d.w, d.x.shape());
    rfcf::ops::Conv2dOp<cpu>::backward_weight(d.g, d.x, d.dy, d.dw, nullptr);
    benchmark::DoNotOptimize(dx.data());
  }
}

// Raw GEMM (M x N x K) through Gemm<cpu> (OpenBLAS when the build found it) or Eigen, to
// compare the backends on the shapes the conv paths produce.
template <bool kEigen>
void gemm(benchmark::State& state) {
  const bool trans_a = state.range(0) & 1, trans_b = state.range(0) & 2;
  const int64_t M = state.range(1), N = state.range(2), K = state.range(3);
  rfcf::Generator gen(0);
  TensorF a = random_tensor(rfcf::Shape{M * K}, gen), b = random_tensor(rfcf::Shape{K * N}, gen);
  TensorF c(rfcf::Shape{M * N});
  const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
  for (auto _ : state) {
    if (kEigen)
      rfcf::ops::cpu_detail::eigen_gemm(trans_a, trans_b, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), N);
    else
      rfcf::ops::Gemm<cpu>::run(trans_a, trans_b, M, N, K, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

// {transposes (1: A, 2: B), M, N, K}: one band of each conv path (3x3 64->64 at width 160,
// 1x1 128->256 at 40x40) for forward (NN), backward data (TN) and backward weight (NT),
// then the whole-image forward products.
void gemm_shapes(benchmark::internal::Benchmark* b) {
  for (auto args : std::vector<std::vector<int64_t>>{{0, 64, 160, 576}, {1, 576, 160, 64}, {2, 64, 576, 160},
                                                     {0, 256, 520, 128}, {1, 128, 520, 256}, {2, 256, 128, 520},
                                                     {0, 64, 25600, 576}, {0, 256, 1600, 128}})
    b->Args(args);
  b->ArgNames({"trans", "M", "N", "K"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace

BENCHMARK_CAPTURE(conv_forward, conv3x3_64x64_160, kConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, conv3x3_64x64_160, kConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_forward, conv1x1_128x256_40, kConv1x1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, conv1x1_128x256_40, kConv1x1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_forward, dwconv3x3_256_40, kDwConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, dwconv3x3_256_40, kDwConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(gemm, false)->Name("gemm_rfcf")->Apply(gemm_shapes);
BENCHMARK_TEMPLATE(gemm, true)->Name("gemm_eigen")->Apply(gemm_shapes);

int main(int argc, char** argv) {
  // 2 threads like the PyTorch anchor; RFCF_BENCH_THREADS overrides (e.g. 1 for CPU-time comparisons).
  const char* threads = std::getenv("RFCF_BENCH_THREADS");
  rfcf::set_num_threads(threads ? std::atoi(threads) : 2);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
