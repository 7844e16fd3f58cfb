// GPU timings of whole rfcf models, printed as "RESULT <name> <median ms>"; the PyTorch anchor
// is bench_cuda_models_torch.py (same networks from benchmarks/python, same shapes, eager mode).
// fp32 without TF32 on both sides. Usage: bench_cuda_models [--quick]
//   retinaface_mnet025_640x480_b1_fwd    inference latency (eval, no grad)
//   retinaface_mnet025_640x480_b1_fwd_graph  the same replayed as a CUDA graph (nn::CapturedForward)
//   retinaface_mnet025_640x480_b64_fwd   inference throughput (ms per batch of 64)
//   iresnet50_112_b256_fwd_bwd           one training step's forward + backward (no optimizer)
//   iresnet50_112_b256_fwd_bwd_bf16      the same under rfcf::Autocast(bf16) (tensor cores, fp32
//                                        master weights); also printed as TFLOP/s against the peak
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

// Multiply-adds of one IResNet-50 forward at 112x112 (convolutions and the FC; batch norm and
// PReLU are negligible): stem 3x3 3->64 at 112^2, then per stage (blocks, width) the first block
// runs conv1 at the input resolution and a strided conv2 + 1x1 downsample to half of it, the
// other blocks two 3x3 convs at the output resolution; FC 512*7*7 -> 512. About 6.3e9.
double iresnet50_macs() {
  const int64_t blocks[4] = {3, 4, 14, 3}, width[4] = {64, 128, 256, 512};
  double macs = 112.0 * 112 * 64 * 3 * 9;
  int64_t in_c = 64, res = 112;
  for (int s = 0; s < 4; ++s) {
    const double c = static_cast<double>(width[s]), out = static_cast<double>(res / 2);
    macs += static_cast<double>(res * res) * c * in_c * 9;          // conv1 of the first block
    macs += out * out * c * c * 9 + out * out * c * in_c;           // strided conv2 + downsample
    macs += static_cast<double>(blocks[s] - 1) * 2 * out * out * c * c * 9;
    in_c = width[s], res /= 2;
  }
  return macs + 512.0 * 7 * 7 * 512;
}

void bench_iresnet50() {
  models::IResNetOptions o;
  o.depth = 50;
  models::IResNet<float, cuda> net(o);
  net.train(true);
  const T x = random_tensor(Shape{256, 3, 112, 112}, 2);
  const T dy = random_tensor(Shape{256, 512}, 3);
  auto step = [&] {
    (void)net.forward(x);
    (void)net.backward(dy);
  };
  report("iresnet50_112_b256_fwd_bwd", median_ms(step, 2));
  double bf16_ms = 0;
  {
    Autocast bf16(ComputePrecision::bf16);
    bf16_ms = median_ms(step, 2);
  }
  report("iresnet50_112_b256_fwd_bwd_bf16", bf16_ms);
  // forward + backward data + backward weight: 3x the forward's 2 FLOPs per multiply-add
  const double tflops = 3 * 2 * iresnet50_macs() * 256 / (bf16_ms * 1e-3) / 1e12;
  std::printf("# iresnet50 bf16: %.1f TFLOP/s (%.1f GFLOP per step; dense bf16 peak of an H100/H200 SXM: 989)\n",
              tflops, 3 * 2 * iresnet50_macs() * 256 / 1e9);
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
