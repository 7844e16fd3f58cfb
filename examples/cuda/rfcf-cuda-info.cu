// rfcf-cuda-info: lists the visible GPUs, then runs a small convolution + LeakyReLU on the first
// one and checks it against a plain host loop. Exit code 0 only if the GPU result is right.
#include <cmath>
#include <cstdio>
#include <vector>

#include "rfcf/cuda.cuh"

using namespace rfcf;

// y = leaky_relu(conv3x3(x, w, pad 1) + b) by the definition, on the host.
static std::vector<float> host_conv_leaky(const std::vector<float>& x, const std::vector<float>& w,
                                          const std::vector<float>& b, int n, int cin, int cout, int h, int wd,
                                          float slope) {
  std::vector<float> y(static_cast<size_t>(n) * cout * h * wd);
  for (int in = 0; in < n; ++in)
    for (int co = 0; co < cout; ++co)
      for (int oy = 0; oy < h; ++oy)
        for (int ox = 0; ox < wd; ++ox) {
          double s = b[co];
          for (int ci = 0; ci < cin; ++ci)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int iy = oy + ky - 1, ix = ox + kx - 1;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += double(x[((in * cin + ci) * h + iy) * wd + ix]) * w[((co * cin + ci) * 3 + ky) * 3 + kx];
              }
          y[((in * cout + co) * h + oy) * wd + ox] = static_cast<float>(s >= 0 ? s : slope * s);
        }
  return y;
}

int main() {
  const int devices = cuda_rt::device_count();
  std::printf("rfcf-cuda-info: %d CUDA device(s)\n", devices);
  if (devices == 0) {
    std::printf("no CUDA device visible (driver missing or no GPU)\n");
    return 1;
  }
  try {
    for (int d = 0; d < devices; ++d) std::printf("  [%d] %s\n", d, cuda_rt::describe_device(d).c_str());
    int runtime = 0, driver = 0;
    RFCF_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    RFCF_CUDA_CHECK(cudaDriverGetVersion(&driver));
    std::printf("CUDA runtime %d, driver %d, cuDNN %zu\n", runtime, driver, cudnnGetVersion());

    const int n = 2, cin = 3, cout = 8, h = 17, w = 13;
    const float slope = 0.1f;
    Generator g(42);
    std::vector<float> x(n * cin * h * w), wt(cout * cin * 9), b(cout);
    for (auto* v : {&x, &wt, &b})
      for (auto& e : *v) e = static_cast<float>(g.uniform(-1, 1));

    ops::Conv2dGeometry geo;
    geo.kernel_h = geo.kernel_w = 3;
    geo.pad_h = geo.pad_w = 1;
    const auto dx = Tensor<float, cuda>::from_host(Shape{n, cin, h, w}, x);
    const auto dw = Tensor<float, cuda>::from_host(Shape{cout, cin, 3, 3}, wt);
    const auto db = Tensor<float, cuda>::from_host(Shape{cout}, b);
    nn::LeakyReLU<float, cuda> act(slope);
    const auto y = act.forward(ops::Conv2dOp<cuda>::forward(geo, dx, dw, &db)).to_vector();

    const auto ref = host_conv_leaky(x, wt, b, n, cin, cout, h, w, slope);
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      num += double(y[i] - ref[i]) * (y[i] - ref[i]);
      den += double(ref[i]) * ref[i];
    }
    const double rel = std::sqrt(num / den);
    const bool ok = rel < 1e-5;
    std::printf("conv3x3 + LeakyReLU on the GPU vs host loop: relative error %.3g (%s)\n", rel, ok ? "ok" : "WRONG");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rfcf-cuda-info: %s\n", e.what());
    return 1;
  }
}
