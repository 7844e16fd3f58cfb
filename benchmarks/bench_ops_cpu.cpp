// CPU convolution speed on the shapes of the RetinaFace/MobileNet backbone, 2 threads.
// The PyTorch anchor is torch_ops_cpu.py (same shapes); run_ops_cpu.sh prints the table.
#include <benchmark/benchmark.h>

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

// Raw GEMM on the shapes the conv paths produce (M x N x K), to compare backends.
void gemm(benchmark::State& state, bool trans_a, bool trans_b) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  rfcf::Generator gen(0);
  TensorF a = random_tensor(rfcf::Shape{M * K}, gen), b = random_tensor(rfcf::Shape{K * N}, gen);
  TensorF c(rfcf::Shape{M * N});
  for (auto _ : state) {
    rfcf::ops::Gemm<cpu>::run(trans_a, trans_b, M, N, K, 1.0f, a.data(), trans_a ? M : K, b.data(),
                              trans_b ? K : N, 0.0f, c.data(), N);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * M * N * K, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK_CAPTURE(conv_forward, conv3x3_64x64_160, kConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, conv3x3_64x64_160, kConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_forward, conv1x1_128x256_40, kConv1x1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, conv1x1_128x256_40, kConv1x1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_forward, dwconv3x3_256_40, kDwConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(conv_backward, dwconv3x3_256_40, kDwConv3x3)->Unit(benchmark::kMillisecond)->UseRealTime();
// Whole-image GEMMs of the two conv shapes: 3x3 (64 x 25600 x 576) and 1x1 (256 x 1600 x 128).
BENCHMARK_CAPTURE(gemm, nn, false, false)
    ->Args({64, 25600, 576})->Args({256, 1600, 128})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(gemm, tn, true, false)
    ->Args({576, 25600, 64})->Args({128, 1600, 256})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(gemm, nt, false, true)
    ->Args({64, 576, 25600})->Args({256, 128, 1600})->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  rfcf::set_num_threads(2);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
