// Autocast (core/precision.hpp): Conv2d and Linear under bf16 / fp16 against naive double loops
// over pre-rounded inputs (the emulation is exact up to fp32 accumulation order), and their
// bounded distance from fp32; ops::cast and ops::round_to_precision.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/rfcf.hpp"
#include "rfcf/ops/reference/conv2d.hpp"
#include "rfcf/ops/reference/gemm.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::relative_error;
using TensorF = Tensor<float, cpu>;
using TensorD = Tensor<double, cpu>;

namespace {

float round16(float v, ComputePrecision p) { return functors::round_to(v, p); }

TensorF random_f(const Shape& s, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  TensorF t(s);
  init::uniform(t, g, -scale, scale);
  return t;
}

// The double tensor of the 16-bit-rounded values of x.
TensorD rounded_double(const TensorF& x, ComputePrecision p) {
  TensorD d(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) d.data()[i] = round16(x.data()[i], p);
  return d;
}

// Every element of `got` is within one 16-bit step of round16(want) (the fp32 sum may sit on the
// other side of a rounding boundary than the exact sum), and nearly all are equal to it.
void check_16bit_close(const TensorF& got, const TensorD& want, ComputePrecision p) {
  REQUIRE(got.numel() == want.numel());
  const double step = p == ComputePrecision::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
  int64_t equal = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double w = want.data()[i];
    const float r = round16(static_cast<float>(w), p);
    if (got.data()[i] == r) ++equal;
    REQUIRE(std::abs(got.data()[i] - w) <= step * std::abs(w) + std::ldexp(1.0, -24));  // fp16 subnormal step
    REQUIRE(round16(got.data()[i], p) == got.data()[i]);  // a 16-bit value
  }
  CHECK(equal >= got.numel() * 98 / 100);
}

double max_rel(const TensorF& a, const TensorF& b) { return relative_error(a.data(), b.data(), a.numel()); }

}  // namespace

TEST_CASE("ops::cast and round_to_precision", "[nn][mixed_precision]") {
  const TensorF x = random_f(Shape{3, 7}, 1, 100.0);
  const auto b = ops::cast<rfcf::bfloat16>(x);
  const auto h = ops::cast<rfcf::float16>(x);
  const auto back_b = ops::cast<float>(b), back_h = ops::cast<float>(h);
  const auto xd = ops::cast<double>(x);
  TensorF rb = x.clone(), rh = x.clone();
  ops::round_to_precision(rb, ComputePrecision::bf16);
  ops::round_to_precision(rh, ComputePrecision::fp16);
  int differs = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    REQUIRE(b.data()[i].bits == rfcf::bfloat16(x.data()[i]).bits);
    REQUIRE(back_b.data()[i] == rb.data()[i]);
    REQUIRE(back_h.data()[i] == rh.data()[i]);
    REQUIRE(xd.data()[i] == static_cast<double>(x.data()[i]));
    REQUIRE(std::abs(rb.data()[i] - x.data()[i]) <= std::ldexp(std::abs(x.data()[i]), -8));
    REQUIRE(std::abs(rh.data()[i] - x.data()[i]) <= std::ldexp(std::abs(x.data()[i]), -11));
    differs += rb.data()[i] != x.data()[i];
  }
  CHECK(differs > x.numel() / 2);
  TensorF same = x.clone();
  ops::round_to_precision(same, ComputePrecision::fp32);
  CHECK(max_rel(same, x) == 0.0);
  CHECK(parse_precision("bf16") == ComputePrecision::bf16);
  CHECK_THROWS_AS(parse_precision("int8"), ConfigError);
}

TEST_CASE("Autocast guard nests and restores; double layers ignore it", "[nn][mixed_precision]") {
  CHECK(compute_precision() == ComputePrecision::fp32);
  {
    Autocast a(ComputePrecision::bf16);
    CHECK(compute_precision() == ComputePrecision::bf16);
    CHECK(compute_precision_for<double>() == ComputePrecision::fp32);
    {
      Autocast b(ComputePrecision::fp16);
      CHECK(compute_precision_for<float>() == ComputePrecision::fp16);
    }
    CHECK(compute_precision() == ComputePrecision::bf16);
  }
  CHECK(compute_precision() == ComputePrecision::fp32);
}

TEST_CASE("Conv2d under autocast equals the convolution of rounded inputs", "[nn][mixed_precision]") {
  for (auto p : {ComputePrecision::bf16, ComputePrecision::fp16}) {
    for (auto opts : {nn::Conv2dOptions::k(3).padded(1).with_bias(), nn::Conv2dOptions::k(3).strided(2).grouped(2),
                      nn::Conv2dOptions::k(1), nn::Conv2dOptions::k(3).padded(1).grouped(8)}) {
      INFO(precision_name(p) << " kernel " << opts.kernel_h << " groups " << opts.groups);
      Generator gen(3), gen32(3);  // identical weights
      nn::Conv2d<float, cpu> conv(8, 8, opts, gen);
      nn::Conv2d<float, cpu> conv32(8, 8, opts, gen32);
      const TensorF x = random_f(Shape{2, 8, 9, 7}, 5);
      TensorF y;
      {
        Autocast guard(p);
        y = conv.forward(x);
      }
      const TensorF y32 = conv32.forward(x);
      const TensorF dy = random_f(y.shape(), 6);
      const TensorF dx = conv.backward(dy);  // outside the guard: uses the forward's precision
      const TensorF dx32 = conv32.backward(dy);

      // Naive double loops on the rounded tensors.
      const auto g = conv.geometry();
      const TensorD xr = rounded_double(x, p), wr = rounded_double(conv.weight().value, p);
      const TensorD dyr = rounded_double(dy, p);
      TensorD y_ref = ops::reference::conv2d_forward<double>(g, xr, wr, nullptr);
      if (!conv.has_bias()) {
        check_16bit_close(y, y_ref, p);
      } else {  // round16(conv) + bias in fp32
        const double step = p == ComputePrecision::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
        int64_t equal = 0;
        for (int64_t i = 0; i < y.numel(); ++i) {
          const float b = conv.bias().value.data()[(i / (y.dim(2) * y.dim(3))) % y.dim(1)];
          const double r = y_ref.data()[i];
          equal += y.data()[i] == round16(static_cast<float>(r), p) + b;
          REQUIRE(std::abs(y.data()[i] - (r + b)) <= step * std::abs(r) + 1e-6);
        }
        CHECK(equal >= y.numel() * 98 / 100);
      }
      const TensorD dx_ref = ops::reference::conv2d_backward_data<double>(g, dyr, wr, x.shape());
      check_16bit_close(dx, dx_ref, p);
      TensorD dw_ref(conv.weight().shape());
      fill(dw_ref, 0.0);
      TensorD db_ref(Shape{8});
      fill(db_ref, 0.0);
      ops::reference::conv2d_backward_weight<double>(g, xr, dyr, dw_ref, nullptr);
      check_16bit_close(conv.weight().grad, dw_ref, p);
      if (conv.has_bias()) {  // bias gradient: fp32 sums of the unrounded dy
        ops::reference::conv2d_backward_weight<double>(g, ops::cast<double>(x), ops::cast<double>(dy), dw_ref,
                                                       &db_ref);
        CHECK(max_rel(conv.bias().grad, ops::cast<float>(db_ref)) < 1e-6);
      }

      // Bounded distance from fp32, and not equal to it (the guard took effect).
      const double tol = p == ComputePrecision::bf16 ? 2e-2 : 2e-3;
      const double ey = max_rel(y, y32), edx = max_rel(dx, dx32);
      const double edw = max_rel(conv.weight().grad, conv32.weight().grad);
      CHECK(ey < tol);
      CHECK(edx < tol);
      CHECK(edw < tol);
      CHECK(ey > 0);
      CHECK(edw > 0);
    }
  }
}

TEST_CASE("Linear under autocast: 16-bit operands, fp32 products", "[nn][mixed_precision]") {
  for (auto p : {ComputePrecision::bf16, ComputePrecision::fp16}) {
    INFO(precision_name(p));
    Generator gen(9), gen32(9);
    nn::Linear<float, cpu> lin(24, 10, true, gen);
    nn::Linear<float, cpu> lin32(24, 10, true, gen32);
    const TensorF x = random_f(Shape{5, 24}, 10);
    TensorF y;
    {
      Autocast guard(p);
      y = lin.forward(x);
    }
    const TensorF y32 = lin32.forward(x);
    const TensorF dy = random_f(y.shape(), 11);
    const TensorF dx = lin.backward(dy), dx32 = lin32.backward(dy);

    const TensorD xr = rounded_double(x, p), wr = rounded_double(lin.weight().value, p), dyr = rounded_double(dy, p);
    TensorD y_ref(y.shape()), dx_ref(x.shape()), dw_ref(lin.weight().shape());
    ops::reference::gemm<double>(false, true, 5, 10, 24, 1.0, xr.data(), 24, wr.data(), 24, 0.0, y_ref.data(), 10);
    for (int64_t i = 0; i < y.numel(); ++i) y_ref.data()[i] += lin.bias().value.data()[i % 10];
    ops::reference::gemm<double>(false, false, 5, 24, 10, 1.0, dyr.data(), 10, wr.data(), 24, 0.0, dx_ref.data(), 24);
    ops::reference::gemm<double>(true, false, 10, 24, 5, 1.0, dyr.data(), 10, xr.data(), 24, 0.0, dw_ref.data(), 24);
    CHECK(max_rel(y, ops::cast<float>(y_ref)) < 1e-6);
    CHECK(max_rel(dx, ops::cast<float>(dx_ref)) < 1e-6);
    CHECK(max_rel(lin.weight().grad, ops::cast<float>(dw_ref)) < 1e-6);

    const double tol = p == ComputePrecision::bf16 ? 2e-2 : 2e-3;
    CHECK(max_rel(y, y32) < tol);
    CHECK(max_rel(y, y32) > 0);
    CHECK(max_rel(dx, dx32) < tol);
    CHECK(max_rel(lin.weight().grad, lin32.weight().grad) < tol);
  }
}

TEST_CASE("EmulatedMixedPrecision gemm keeps strided operands and beta", "[nn][mixed_precision]") {
  // A is 3x4 stored with row stride 6, B^T 5x4 with stride 4; C accumulates with beta = 0.5.
  const TensorF a = random_f(Shape{3 * 6}, 12), b = random_f(Shape{5 * 4}, 13);
  TensorF c = random_f(Shape{3 * 5}, 14);
  const TensorF c0 = c.clone();
  ops::MixedPrecision<cpu>::gemm(ComputePrecision::bf16, false, true, 3, 5, 4, 2.0f, a.data(), 6, b.data(), 4, 0.5f,
                                 c.data(), 5);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double s = 0;
      for (int64_t k = 0; k < 4; ++k)
        s += double(round16(a.data()[i * 6 + k], ComputePrecision::bf16)) * round16(b.data()[j * 4 + k], ComputePrecision::bf16);
      REQUIRE(std::abs(c.data()[i * 5 + j] - (2 * s + 0.5 * c0.data()[i * 5 + j])) < 1e-5);
    }
}
