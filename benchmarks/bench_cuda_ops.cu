// GPU timings of rfcf's cuda ops, printed as "RESULT <name> <median ms>" lines; the PyTorch
// anchor is bench_cuda_torch.py (same names, same shapes) and scripts/device_check.sh prints
// the comparison table. fp32 without TF32 on both sides. Usage: bench_cuda_ops [--quick]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "rfcf/cuda.cuh"

using namespace rfcf;
using T = Tensor<float, cuda>;

namespace {

int g_iters = 20;

// Median of g_iters timed runs (CUDA events on the current stream) after 3 warm-ups.
double median_ms(const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  cuda_rt::synchronize();
  std::vector<float> ms;
  cuda_rt::Event start(true), stop(true);
  for (int i = 0; i < g_iters; ++i) {
    start.record();
    f();
    stop.record();
    stop.synchronize();
    ms.push_back(stop.elapsed_ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void report(const char* name, double ms) {
  std::printf("RESULT %s %.4f\n", name, ms);
  std::fflush(stdout);
}

T random_tensor(const Shape& s, uint64_t seed) {
  T t(s);
  Generator g(seed);
  init::uniform(t, g, -1.0, 1.0);
  return t;
}

void bench_conv(const char* suffix) {
  ops::Conv2dGeometry g;
  g.kernel_h = g.kernel_w = 3;
  g.pad_h = g.pad_w = 1;
  const T x = random_tensor(Shape{32, 64, 160, 160}, 1), w = random_tensor(Shape{64, 64, 3, 3}, 2);
  const T dy = random_tensor(Shape{32, 64, 160, 160}, 3);
  T dw(w.shape());
  fill(dw, 0.0f);
  const std::string p = std::string("conv3x3_64x64_160_b32") + suffix;
  const double f = median_ms([&] { (void)ops::Conv2dOp<cuda>::forward(g, x, w, nullptr); });
  const double bd = median_ms([&] { (void)ops::Conv2dOp<cuda>::backward_data(g, dy, w, x.shape()); });
  const double bw = median_ms([&] { ops::Conv2dOp<cuda>::backward_weight(g, x, dy, dw, nullptr); });
  report((p + "_fwd").c_str(), f);
  report((p + "_bwd_data").c_str(), bd);
  report((p + "_bwd_weight").c_str(), bw);
  report((p + "_fwd_bwd").c_str(), f + bd + bw);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) g_iters = 5;
  if (cuda_rt::device_count() == 0) {
    std::fprintf(stderr, "bench_cuda_ops: no CUDA device\n");
    return 77;
  }
  try {
    std::printf("# %s\n", cuda_rt::describe_device(cuda_rt::current_device()).c_str());
    bench_conv("");
    cuda_rt::set_conv_algo_search(cuda_rt::ConvAlgoSearch::exhaustive);
    bench_conv("_find");
    cuda_rt::set_conv_algo_search(cuda_rt::ConvAlgoSearch::heuristic);

    {
      const int64_t n = 4096;
      const T a = random_tensor(Shape{n, n}, 4), b = random_tensor(Shape{n, n}, 5);
      T c(Shape{n, n});
      report("gemm_4096_fp32", median_ms([&] {
               ops::Gemm<cuda>::run(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
             }));
    }
    {
      const Shape s{32, 64, 160, 160};
      const T x = random_tensor(s, 6), y = random_tensor(s, 7);
      nn::LeakyReLU<float, cuda> act(0.1);
      report("leaky_relu_fwd_32x64x160x160", median_ms([&] { (void)act.forward(x); }));
      (void)act.forward(x);
      report("leaky_relu_bwd_32x64x160x160", median_ms([&] { (void)act.backward(y); }));
      report("add_32x64x160x160", median_ms([&] { (void)ops::add(x, y); }));
      report("concat_2x_32x64x160x160", median_ms([&] { (void)ops::concat_channels<float, cuda>({x, y}); }));
    }
    cuda_rt::synchronize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
