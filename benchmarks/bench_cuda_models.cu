// GPU timings of whole rfcf models, printed as "RESULT <name> <median ms>"; the PyTorch anchor
// is bench_cuda_models_torch.py (same networks from benchmarks/python, same shapes, eager mode).
// fp32 without TF32 on both sides. Usage: bench_cuda_models [--quick]
//   retinaface_mnet025_640x480_b1_fwd    inference latency (eval, no grad)
//   retinaface_mnet025_640x480_b1_fwd_graph  the same replayed as a CUDA graph (nn::CapturedForward)
//   retinaface_mnet025_640x480_b64_fwd   inference throughput (ms per batch of 64)
//   iresnet50_112_b256_fwd_bwd           one training step's forward + backward (no optimizer)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "rfcf/cuda.cuh"
#include "rfcf/models.hpp"

using namespace rfcf;
using T = Tensor<float, cuda>;

namespace {

int g_iters = 10;

double median_ms(const std::function<void()>& f, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) f();
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

void bench_retinaface() {
  models::RetinaFace<models::MobileNetV1025, cuda> net;
  net.train(false);
  nn::NoGradGuard no_grad;
  for (int64_t batch : {1, 64}) {
    const T x = random_tensor(Shape{batch, 3, 480, 640}, 1);
    const double ms = median_ms([&] { (void)net.forward(x); });
    report(batch == 1 ? "retinaface_mnet025_640x480_b1_fwd" : "retinaface_mnet025_640x480_b64_fwd", ms);
    if (batch == 1) {
      // One graph launch instead of ~100 kernel launches; capture happens in the warm-up calls.
      cuda_rt::Stream stream;  // graphs replay best off the legacy default stream
      cuda_rt::StreamGuard on(stream);
      nn::CapturedForward<decltype(net)> graph(net, x.shape());
      graph.input().copy_from(x);
      report("retinaface_mnet025_640x480_b1_fwd_graph", median_ms([&] { (void)graph.replay(); }));
    }
  }
}

void bench_iresnet50() {
  models::IResNetOptions o;
  o.depth = 50;
  models::IResNet<float, cuda> net(o);
  net.train(true);
  const T x = random_tensor(Shape{256, 3, 112, 112}, 2);
  const T dy = random_tensor(Shape{256, 512}, 3);
  const double ms = median_ms([&] {
    (void)net.forward(x);
    (void)net.backward(dy);
  }, 2);
  report("iresnet50_112_b256_fwd_bwd", ms);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--quick") == 0) g_iters = 3;
  try {
    if (cuda_rt::device_count() == 0) {
      std::fprintf(stderr, "bench_cuda_models: no CUDA device\n");
      return 77;
    }
    std::printf("# %s\n", cuda_rt::describe_device(cuda_rt::current_device()).c_str());
    cuda_rt::allow_tf32(false);
    bench_retinaface();
    bench_iresnet50();
    const auto st = Allocator<cuda>::stats();
    std::printf("# peak GPU memory %.1f MiB\n", static_cast<double>(st.peak_bytes) / (1 << 20));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
