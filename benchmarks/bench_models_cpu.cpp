// CPU inference benchmarks of rfcf's models (random input, eval mode, 2 threads by default:
// the anchors in benchmarks/python/ use the same thread count). Run through
// benchmarks/run_models_cpu.sh, which prints rfcf vs PyTorch vs OpenCV DNN.
#include <benchmark/benchmark.h>

#include "rfcf/models.hpp"
#include "rfcf/rfcf.hpp"

using namespace rfcf;

namespace {

Tensor<float, cpu> random_input(int64_t n, int64_t h, int64_t w, double scale) {
  Tensor<float, cpu> x(Shape{n, 3, h, w});
  Generator g(1);
  init::uniform(x, g, -scale, scale);
  return x;
}

void BM_RetinaFaceForward(benchmark::State& state) {
  const int64_t w = state.range(0), h = state.range(1);
  models::RetinaFace<models::MobileNetV1025, cpu> net;
  net.fuse_for_inference();
  nn::NoGradGuard no_grad;
  auto x = random_input(1, h, w, 100.0);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).loc.data());
}
BENCHMARK(BM_RetinaFaceForward)->Args({640, 480})->Args({1024, 768})->Args({1600, 898})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MobileNetBackbone(benchmark::State& state) {
  models::MobileNetV1025<float, cpu> body;
  body.train(false);
  body.fuse_for_inference();
  nn::NoGradGuard no_grad;
  auto x = random_input(1, 480, 640, 100.0);
  for (auto _ : state) benchmark::DoNotOptimize(body.forward(x)[2].data());
}
BENCHMARK(BM_MobileNetBackbone)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MobileFaceNetEmbed(benchmark::State& state) {
  models::MobileFaceNet<float, cpu> net;
  net.fuse_for_inference();
  nn::NoGradGuard no_grad;
  auto x = random_input(state.range(0), 112, 96, 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
  state.counters["faces/s"] = benchmark::Counter(double(state.range(0)) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MobileFaceNetEmbed)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IResNet50Embed(benchmark::State& state) {
  models::IResNet<float, cpu> net;
  net.eval();
  nn::NoGradGuard no_grad;
  auto x = random_input(state.range(0), 112, 112, 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
  state.counters["faces/s"] = benchmark::Counter(double(state.range(0)) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IResNet50Embed)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  set_num_threads(2);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
