// Mixed precision on cuda: rfcf::bfloat16 / float16 conversions in device code against CUDA's
// intrinsics, and Conv2d / Linear / whole models under Autocast (cuDNN and cuBLAS on 16-bit
// tensors with fp32 accumulation) against the cpu emulation (ops/emulated_mixed_precision.hpp)
// with identical weights and inputs.
#include <catch2/catch.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/compare_runs.hpp"
#include "cuda/device_cases.hpp"
#include "rfcf/cuda.cuh"

using namespace rfcf;
using namespace rfcf::test;

static_assert(sizeof(rfcf::bfloat16) == sizeof(__nv_bfloat16) && alignof(rfcf::bfloat16) == alignof(__nv_bfloat16));
static_assert(sizeof(rfcf::float16) == sizeof(__half) && alignof(rfcf::float16) == alignof(__half));

namespace {

__global__ void intrinsic_convert(const float* x, uint16_t* bf, uint16_t* hf, float* bf_back, float* hf_back,
                                  int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const __nv_bfloat16 b = __float2bfloat16_rn(x[i]);
  const __half h = __float2half_rn(x[i]);
  bf[i] = __bfloat16_as_ushort(b);
  hf[i] = __half_as_ushort(h);
  bf_back[i] = __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(i & 0xffff)));
  hf_back[i] = __half2float(__ushort_as_half(static_cast<unsigned short>(i & 0xffff)));
}

struct RfcfConvert {
  const float* x;
  uint16_t* bf;
  uint16_t* hf;
  float* bf_back;
  float* hf_back;
  RFCF_HD void operator()(int64_t i) const {
    bf[i] = rfcf::bfloat16(x[i]).bits;
    hf[i] = rfcf::float16(x[i]).bits;
    bf_back[i] = static_cast<float>(rfcf::bfloat16::from_bits(static_cast<uint16_t>(i & 0xffff)));
    hf_back[i] = static_cast<float>(rfcf::float16::from_bits(static_cast<uint16_t>(i & 0xffff)));
  }
};

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub;
}

bool is_nan16(uint16_t v, bool bf) { return bf ? ((v & 0x7f80) == 0x7f80 && (v & 0x7f)) : ((v & 0x7c00) == 0x7c00 && (v & 0x3ff)); }

}  // namespace

TEST_CASE("cuda: bfloat16/float16 conversions match __float2bfloat16_rn / __float2half_rn", "[cuda][mixed_precision]") {
  // random bit patterns (all exponents), values near 1, fp16 subnormals, and every 16-bit pattern back
  const int64_t n = 1 << 20;
  std::vector<float> hx(static_cast<size_t>(n));
  Generator g(21);
  for (int64_t i = 0; i < n; ++i) {
    float v;
    if (i % 3 == 0) {
      const uint32_t u = static_cast<uint32_t>(g.uniform(0.0, 4294967295.0));
      std::memcpy(&v, &u, 4);
    } else if (i % 3 == 1) {
      v = static_cast<float>(g.uniform(-2.0, 2.0));
    } else {
      v = static_cast<float>(g.uniform(-1.0, 1.0) * std::ldexp(1.0, -14));
    }
    hx[static_cast<size_t>(i)] = v;
  }
  const auto x = Tensor<float, cuda>::from_host(Shape{n}, hx);
  Tensor<uint16_t, cuda> bf(Shape{n}), hf(Shape{n}), bf2(Shape{n}), hf2(Shape{n});
  Tensor<float, cuda> bb(Shape{n}), hb(Shape{n}), bb2(Shape{n}), hb2(Shape{n});
  intrinsic_convert<<<static_cast<unsigned>((n + 255) / 256), 256>>>(x.data(), bf.data(), hf.data(), bb.data(),
                                                                     hb.data(), n);
  RFCF_CUDA_CHECK(cudaGetLastError());
  Executor<cuda>::for_each(n, RfcfConvert{x.data(), bf2.data(), hf2.data(), bb2.data(), hb2.data()});
  const auto vbf = bf.to_vector(), vhf = hf.to_vector(), vbf2 = bf2.to_vector(), vhf2 = hf2.to_vector();
  const auto vbb = bb.to_vector(), vhb = hb.to_vector(), vbb2 = bb2.to_vector(), vhb2 = hb2.to_vector();
  int64_t bad_bf = 0, bad_hf = 0, bad_back = 0, host_bad = 0;
  for (size_t i = 0; i < vbf.size(); ++i) {
    if (std::isnan(hx[i])) {
      bad_bf += !is_nan16(vbf2[i], true);
      bad_hf += !is_nan16(vhf2[i], false);
    } else {
      bad_bf += vbf[i] != vbf2[i];
      bad_hf += vhf[i] != vhf2[i];
      host_bad += rfcf::bfloat16(hx[i]).bits != vbf2[i] || rfcf::float16(hx[i]).bits != vhf2[i];
    }
    bad_back += !same_float(vbb[i], vbb2[i]) || !same_float(vhb[i], vhb2[i]);
  }
  CHECK(bad_bf == 0);
  CHECK(bad_hf == 0);
  CHECK(bad_back == 0);
  CHECK(host_bad == 0);  // host and device code of half.hpp agree
}

TEST_CASE("cuda: layers and models under autocast match the cpu emulation", "[cuda][mixed_precision]") {
  const std::vector<std::string> layers{"conv2d_3x3_bias", "conv2d_depthwise_s2", "conv2d_1x1_groups2", "linear",
                                        "sequential_conv_bn_prelu"};
  const std::vector<std::string> models{"iresnet18_train", "mobilefacenet_train"};
  for (const ComputePrecision p : {ComputePrecision::bf16, ComputePrecision::fp16}) {
    // cuda vs emulation differ only by fp32 summation order, which flips a 16-bit rounding now
    // and then (one step: 2^-8 bf16, 2^-11 fp16 relative).
    const double tol = p == ComputePrecision::bf16 ? 1e-2 : 2e-3;
    for (const std::string& name : layers) {
      SECTION(std::string(precision_name(p)) + " " + name) {
        HostWeights w;
        HostRun gpu, ref, gpu32;
        {
          Autocast guard(p);
          gpu = run_layer_case<cuda>(name, w, true);
          ref = layer_case_cpu(name, w);
        }
        HostWeights w32 = w;
        gpu32 = run_layer_case<cuda>(name, w32, false);
        compare_runs(name, gpu, ref, tol, tol);
        double from_fp32 = 0;  // the guard took effect
        for (size_t i = 0; i < gpu.outputs.size(); ++i)
          from_fp32 = std::max(from_fp32, relative_error(gpu.outputs[i], gpu32.outputs[i]));
        CHECK(from_fp32 > 1e-5);
      }
    }
    for (const std::string& name : models) {
      SECTION(std::string(precision_name(p)) + " " + name) {
        HostWeights w;
        HostRun gpu, ref;
        {
          Autocast guard(p);
          gpu = run_model_case<cuda>(name, w, true);
          ref = model_case_cpu(name, w);
        }
        // deep stacks with batch statistics amplify the flipped roundings
        compare_runs(name, gpu, ref, 5 * tol, 10 * tol);
      }
    }
  }
}
