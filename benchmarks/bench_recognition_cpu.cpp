// Recognition on the CPU (Google Benchmark): embedding throughput of MobileFaceNet (CASIA layout,
// 112x96) and IResNet-50 (112x112) at batch 1 and 64, and one training step of IResNet-50 +
// CurricularFace head (batch 64, 10k classes, 512-d, SGD momentum 0.9, weight decay 5e-4).
// Two modes (first argument, before the Google Benchmark flags):
//   --mode=cpu   (default) 1 thread, process CPU time: robust on a shared, loaded machine
//   --mode=wall  2 threads, wall-clock time: for a quiet machine
// benchmarks/run_recognition_cpu.sh runs this and the PyTorch / OpenCV DNN anchors
// (benchmarks/python/recognition_anchor.py) with the same inputs and threads and prints the table.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rfcf/rfcf.hpp"

using namespace rfcf;

namespace {

bool g_cpu_mode = true;

Tensor<float, cpu> random_input(int64_t n, int64_t h, int64_t w) {
  Tensor<float, cpu> x(Shape{n, 3, h, w});
  Generator g(1);
  init::uniform(x, g, -1.0, 1.0);
  return x;
}

void faces_per_second(benchmark::State& state, int64_t batch) {
  state.counters["faces/s"] = benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
}

// Eval-mode inference through the model's fused path when it has one (batch norm folded into
// the convolutions), as the programs run it. The first call of each case is a warm-up.
template <class Model>
void embed(benchmark::State& state, Model& net, int64_t h, int64_t w) {
  const int64_t batch = state.range(0);
  nn::NoGradGuard no_grad;
  const auto x = random_input(batch, h, w);
  static std::vector<int64_t> warmed;  // batch sizes seen (one static per model type)
  if (std::find(warmed.begin(), warmed.end(), batch) == warmed.end()) {
    benchmark::DoNotOptimize(net.forward(x).data());
    warmed.push_back(batch);
  }
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(x).data());
  faces_per_second(state, batch);
}

template <class Model>
Model& inference_model(Model& net) {
  net.train(false);
  if constexpr (requires { net.fuse_for_inference(); }) net.fuse_for_inference();
  return net;
}

void BM_MobileFaceNetEmbed(benchmark::State& state) {
  static models::MobileFaceNet<float, cpu> net;
  static auto& m = inference_model(net);
  embed(state, m, 112, 96);
}

void BM_IResNet50Embed(benchmark::State& state) {
  static models::IResNet<float, cpu> net;
  static auto& m = inference_model(net);
  embed(state, m, 112, 112);
}

// Backbone and head as one model, so that one flat parameter buffer and one SGD cover both.
struct IResNetCurricular {
  models::IResNet<float, cpu> backbone;
  recognition::MarginHead<recognition::CurricularFace, float, cpu> head{512, 10000};
  template <class V>
  void visit(V& v, const std::string& p) {
    backbone.visit(v, nn::join_name(p, "backbone"));
    head.visit(v, nn::join_name(p, "head"));
  }
};

void BM_IResNet50CurricularStep(benchmark::State& state) {
  const int64_t batch = state.range(0);
  static auto model = std::make_unique<IResNetCurricular>();
  static nn::FlatParameters<float, cpu> params(*model);
  static train::SGD<float, cpu> sgd(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
  const auto x = random_input(batch, 112, 112);
  std::vector<int64_t> labels(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = (i * 7919) % 10000;
  auto step = [&] {
    sgd.zero_grad();
    const auto emb = model->backbone.forward(x);
    const auto out = model->head.forward(emb, labels);
    model->backbone.backward(model->head.backward());
    sgd.step();
    benchmark::DoNotOptimize(out.loss);
  };
  static bool warmed = false;
  if (!warmed) step(), warmed = true;
  for (auto _ : state) step();
  faces_per_second(state, batch);
}

void add(benchmark::internal::Benchmark* b, int64_t batch, int iterations, int repetitions) {
  b->Arg(batch)->Iterations(iterations)->Repetitions(repetitions)->ReportAggregatesOnly(true)->Unit(
      benchmark::kMillisecond);
  if (g_cpu_mode) b->MeasureProcessCPUTime();
  else b->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  // --mode=cpu|wall and --scale=N (repetitions multiplier) are ours; the rest goes to Google Benchmark.
  int scale = 1;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mode=wall") == 0) g_cpu_mode = false;
    else if (std::strcmp(argv[i], "--mode=cpu") == 0) g_cpu_mode = true;
    else if (std::strncmp(argv[i], "--scale=", 8) == 0) scale = std::max(1, std::atoi(argv[i] + 8));
    else args.push_back(argv[i]);
  }
  set_num_threads(g_cpu_mode ? 1 : 2);
  add(benchmark::RegisterBenchmark("mbf_embed", BM_MobileFaceNetEmbed), 1, 20, 3 * scale);
  add(benchmark::RegisterBenchmark("mbf_embed", BM_MobileFaceNetEmbed), 64, 2, 3 * scale);
  add(benchmark::RegisterBenchmark("iresnet50_embed", BM_IResNet50Embed), 1, 4, 3 * scale);
  add(benchmark::RegisterBenchmark("iresnet50_embed", BM_IResNet50Embed), 64, 1, 2 * scale);
  add(benchmark::RegisterBenchmark("iresnet50_curricular_step", BM_IResNet50CurricularStep), 64, 1, 2 * scale);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
