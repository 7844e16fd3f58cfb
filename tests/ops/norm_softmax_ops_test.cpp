// Batch norm, activations, softmax, losses and reductions: optimised paths against the naive
// references (fp32, random inputs with odd sizes and batch 1) and against hand-computed values.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rfcf/ops/reference/activation.hpp"
#include "rfcf/ops/reference/batch_norm.hpp"
#include "rfcf/ops/reference/softmax.hpp"
#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::relative_error;
using TensorF = Tensor<float, cpu>;

namespace {

TensorF random_float(const Shape& s, Generator& g, double lo = -2.0, double hi = 2.0) {
  TensorF t(s);
  init::uniform(t, g, lo, hi);
  return t;
}
std::vector<double> as_double(const TensorF& t) {
  auto v = t.to_vector();
  return {v.begin(), v.end()};
}
double rel(const std::vector<double>& a, const std::vector<double>& b) {
  return relative_error(a.data(), b.data(), static_cast<int64_t>(a.size()));
}

const std::vector<Shape> kBn2dShapes = {Shape{1, 3, 5, 7}, Shape{4, 5, 3, 3}, Shape{3, 2, 1, 1}, Shape{2, 17, 9, 11}};
// Each channel needs a spread well above sqrt(eps): with M = 2 values and hundreds of channels
// some channel has two nearly equal values, and then the fp32 rounding of the mean alone, scaled
// by 1/sqrt(var + eps) ~ 300, exceeds 1e-5 (in PyTorch as well), and the train-mode dx of two
// values is a pure cancellation (it vanishes as eps -> 0). So M >= 3, wide layers use 16 rows.
const std::vector<Shape> kBn1dShapes = {Shape{5, 6}, Shape{3, 5}, Shape{16, 513}, Shape{3, 4, 7}};

int64_t x_values_per_channel(const Shape& s) { return s.numel() / s[1]; }

template <class BN>
void check_batch_norm_against_reference(const Shape& s, bool training, bool affine, Generator& g) {
  BN bn(s[1], nn::BatchNormOptions{1e-5, 0.1, affine});
  if (affine) {
    init::uniform(bn.weight().value, g, 0.5, 1.5);
    init::uniform(bn.bias().value, g, -0.5, 0.5);
  }
  init::uniform(bn.running_mean(), g, -0.3, 0.3);
  init::uniform(bn.running_var(), g, 0.5, 2.0);
  const auto rm = as_double(bn.running_mean()), rv = as_double(bn.running_var());
  const std::vector<double> w = affine ? as_double(bn.weight().value) : std::vector<double>{};
  const std::vector<double> b = affine ? as_double(bn.bias().value) : std::vector<double>{};
  bn.train(training);
  // An offset mean checks that the variance does not cancel catastrophically. With very few
  // values per channel (M = 2) fp32 itself cannot resolve a tiny spread around a large mean, so
  // those inputs stay centred.
  const bool offset = x_values_per_channel(s) >= 8;
  TensorF x = random_float(s, g, offset ? 3.0 : -2.0, offset ? 5.0 : 2.0), dy = random_float(s, g);
  TensorF y = bn.forward(x);
  TensorF dx = bn.backward(dy);
  auto ref = ops::reference::batch_norm_forward(x, w, b, 1e-5, training, rm, rv);
  auto rg = ops::reference::batch_norm_backward(x, dy, w, 1e-5, training, rm, rv);
  INFO("shape " << s.str() << " training " << training << " affine " << affine);
  CHECK(relative_error(y, ref.y) < 1e-5);
  CHECK(relative_error(dx, rg.dx) < 1e-5);
  if (affine) {
    CHECK(rel(as_double(bn.weight().grad), rg.dweight) < 1e-5);
    CHECK(rel(as_double(bn.bias().grad), rg.dbias) < 1e-5);
  }
  if (training) {
    const double m = static_cast<double>(x.numel() / s[1]);
    std::vector<double> erm(rm.size()), erv(rv.size());
    for (size_t k = 0; k < rm.size(); ++k) {
      erm[k] = 0.9 * rm[k] + 0.1 * ref.mean[k];
      erv[k] = 0.9 * rv[k] + 0.1 * ref.var[k] * m / (m - 1);
    }
    CHECK(rel(as_double(bn.running_mean()), erm) < 1e-5);
    CHECK(rel(as_double(bn.running_var()), erv) < 1e-5);
    CHECK(bn.num_batches_tracked() == 1);
  } else {
    CHECK(bn.running_mean().to_vector() == std::vector<float>(rm.begin(), rm.end()));
    CHECK(bn.num_batches_tracked() == 0);
  }
}

}  // namespace

TEST_CASE("BatchNorm2d/1d match the naive reference", "[ops][batch_norm]") {
  Generator g(11);
  for (bool training : {true, false})
    for (bool affine : {true, false}) {
      for (const auto& s : kBn2dShapes) check_batch_norm_against_reference<nn::BatchNorm2d<float, cpu>>(s, training, affine, g);
      for (const auto& s : kBn1dShapes) check_batch_norm_against_reference<nn::BatchNorm1d<float, cpu>>(s, training, affine, g);
    }
}

TEST_CASE("BatchNorm running statistics follow PyTorch's update", "[ops][batch_norm]") {
  nn::BatchNorm2d<float, cpu> bn(1);
  // One channel, values 1..4: mean 2.5, biased var 1.25, unbiased var 5/3.
  auto x = TensorF::from_host(Shape{2, 1, 1, 2}, std::vector<float>{1, 2, 3, 4});
  auto y = bn.forward(x).to_vector();
  const float is = 1.0f / std::sqrt(1.25f + 1e-5f);
  CHECK(y[0] == Approx(-1.5f * is));
  CHECK(y[3] == Approx(1.5f * is));
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.25));
  CHECK(bn.running_var().to_vector()[0] == Approx(0.9 + 0.1 * 5.0 / 3.0));
  bn.forward(x);
  CHECK(bn.running_mean().to_vector()[0] == Approx(0.9 * 0.25 + 0.25));
  CHECK(bn.running_var().to_vector()[0] == Approx(0.9 * (0.9 + 0.5 / 3.0) + 0.5 / 3.0));
  CHECK(bn.num_batches_tracked() == 2);

  bn.eval();
  const float rm = 0.475f, rv = static_cast<float>(0.9 * (0.9 + 0.5 / 3.0) + 0.5 / 3.0);
  auto ye = bn.forward(x).to_vector();
  CHECK(ye[1] == Approx((2.0f - rm) / std::sqrt(rv + 1e-5f)));
  CHECK(bn.num_batches_tracked() == 2);  // eval does not count

  nn::BatchNorm1d<float, cpu> one(3);
  CHECK_THROWS_AS(one.forward(TensorF(Shape{1, 3})), ShapeError);  // one value per channel
  CHECK_THROWS_AS(one.forward(TensorF(Shape{4, 2})), ShapeError);
  CHECK_THROWS_AS(bn.forward(TensorF(Shape{4, 1})), ShapeError);
  one.eval();
  CHECK_NOTHROW(one.forward(TensorF(Shape{1, 3})));
}

TEST_CASE("fold_batch_norm matches conv followed by batch norm", "[ops][batch_norm]") {
  Generator g(5);
  const int64_t cin = 3, cout = 4;
  for (bool with_bias : {true, false})
    for (bool affine : {true, false}) {
      nn::BatchNorm2d<float, cpu> bn(cout, {1e-3, 0.1, affine});
      if (affine) {
        init::uniform(bn.weight().value, g, 0.5, 1.5);
        init::uniform(bn.bias().value, g, -0.5, 0.5);
      }
      init::uniform(bn.running_mean(), g, -0.5, 0.5);
      init::uniform(bn.running_var(), g, 0.5, 2.0);
      bn.eval();
      TensorF w = random_float(Shape{cout, cin, 1, 1}, g), b = with_bias ? random_float(Shape{cout}, g) : TensorF();
      TensorF x = random_float(Shape{1, cin, 1, 1}, g);
      auto folded = ops::fold_batch_norm(w, b, bn);
      REQUIRE(folded.weight.shape() == w.shape());
      TensorF conv(Shape{1, cout, 1, 1}), conv_folded(Shape{1, cout, 1, 1});
      for (int64_t o = 0; o < cout; ++o) {
        float s = with_bias ? b.data()[o] : 0.0f, sf = folded.bias.data()[o];
        for (int64_t i = 0; i < cin; ++i) {
          s += w.data()[o * cin + i] * x.data()[i];
          sf += folded.weight.data()[o * cin + i] * x.data()[i];
        }
        conv.data()[o] = s;
        conv_folded.data()[o] = sf;
      }
      CHECK(relative_error(conv_folded, bn.forward(conv)) < 1e-5);
    }
  nn::BatchNorm2d<float, cpu> bn(4);
  CHECK_THROWS_AS(ops::fold_batch_norm(TensorF(Shape{3, 2, 1, 1}), TensorF(), bn), ShapeError);
  CHECK_THROWS_AS(ops::fold_batch_norm(TensorF(Shape{4, 2, 1, 1}), TensorF(Shape{3}), bn), ShapeError);
}

TEST_CASE("PReLU, Sigmoid and L2Normalize match the naive reference", "[ops][activation]") {
  Generator g(3);
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{4, 5, 3, 3}, Shape{2, 7}}) {
    nn::PReLU<float, cpu> prelu(s[1]);
    init::uniform(prelu.weight().value, g, 0.0, 0.5);
    TensorF x = random_float(s, g), dy = random_float(s, g);
    const auto w = as_double(prelu.weight().value);
    CHECK(relative_error(prelu.forward(x), ops::reference::prelu_forward(x, w)) < 1e-5);
    std::vector<double> dw(w.size(), 0.0);
    CHECK(relative_error(prelu.backward(dy), ops::reference::prelu_backward(x, dy, w, dw)) < 1e-5);
    CHECK(rel(as_double(prelu.weight().grad), dw) < 1e-5);

    nn::PReLU<float, cpu> shared;  // one slope
    CHECK(relative_error(shared.forward(x), ops::reference::prelu_forward(x, {0.25})) < 1e-5);

    nn::Sigmoid<float, cpu> sig;
    CHECK(relative_error(sig.forward(x), ops::reference::sigmoid(x)) < 1e-5);
  }
  nn::Sigmoid<float, cpu> sig;
  auto extreme = sig.forward(TensorF::from_host(Shape{3}, std::vector<float>{-1000, 0, 1000})).to_vector();
  CHECK(extreme == std::vector<float>{0.0f, 0.5f, 1.0f});
  nn::PReLU<float, cpu> p3(3);
  CHECK_THROWS_AS(p3.forward(TensorF(Shape{2, 4, 1, 1})), ShapeError);

  for (const Shape& s : {Shape{1, 512}, Shape{7, 3}, Shape{3, 1}})
    for (double eps : {0.0, 1e-3}) {
      nn::L2Normalize<float, cpu> norm(eps);
      TensorF x = random_float(s, g);
      CHECK(relative_error(norm.forward(x), ops::reference::l2_normalize(x, eps)) < 1e-5);
    }
  nn::L2Normalize<float, cpu> norm;
  auto z = norm.forward(TensorF::from_host(Shape{2, 2}, std::vector<float>{0, 0, 3, 4})).to_vector();
  CHECK(z == std::vector<float>{0, 0, 0.6f, 0.8f});
  CHECK_THROWS_AS(norm.forward(TensorF(Shape{2, 2, 1})), ShapeError);
}

TEST_CASE("Dropout is inverted, seeded and the identity in eval", "[ops][dropout]") {
  Generator g(9);
  TensorF x = random_float(Shape{64, 100}, g, 1.0, 2.0);
  nn::Dropout<float, cpu> a(0.4, 123), b(0.4, 123), c(0.4, 124);
  auto ya = a.forward(x).to_vector(), yb = b.forward(x).to_vector(), yc = c.forward(x).to_vector();
  CHECK(ya == yb);
  CHECK(ya != yc);
  CHECK(a.forward(x).to_vector() != ya);  // a new mask per call
  a.seed(123);
  CHECK(a.forward(x).to_vector() == ya);  // reseeding restarts the sequence
  const auto xv = x.to_vector();
  int64_t zeros = 0;
  for (size_t i = 0; i < ya.size(); ++i) {
    if (ya[i] == 0.0f) ++zeros;
    else CHECK(ya[i] == Approx(xv[i] / 0.6f));
  }
  CHECK(static_cast<double>(zeros) / static_cast<double>(ya.size()) == Approx(0.4).margin(0.03));
  // backward multiplies by the same mask
  auto dx = a.backward(ones<float, cpu>(x.shape())).to_vector();
  for (size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == Approx(ya[i] / xv[i]));

  a.eval();
  CHECK(a.forward(x).to_vector() == xv);
  nn::Dropout<float, cpu> all(1.0);
  for (float v : all.forward(x).to_vector()) CHECK(v == 0.0f);
  CHECK_THROWS_AS((nn::Dropout<float, cpu>(1.5)), ConfigError);
}

TEST_CASE("softmax and log_softmax match hand values and the reference", "[ops][softmax]") {
  auto x = TensorF::from_host(Shape{1, 3}, std::vector<float>{1, 2, 3});
  auto p = ops::softmax(x).to_vector(), lp = ops::log_softmax(x).to_vector();
  CHECK(p[0] == Approx(0.09003057));
  CHECK(p[1] == Approx(0.24472847));
  CHECK(p[2] == Approx(0.66524096));
  CHECK(lp[0] == Approx(-2.40760596));
  CHECK(lp[2] == Approx(-0.40760596));
  // Large logits stay finite (max subtraction).
  auto big = ops::log_softmax(TensorF::from_host(Shape{1, 2}, std::vector<float>{1000, 1000})).to_vector();
  CHECK(big[0] == Approx(-std::log(2.0)));

  Generator g(4);
  for (const Shape& s : {Shape{1, 1}, Shape{1, 10}, Shape{7, 13}, Shape{3, 1001}, Shape{2, 3, 5}}) {
    TensorF r = random_float(s, g, -20, 20);
    CHECK(relative_error(ops::softmax(r), ops::reference::softmax(r)) < 1e-5);
    CHECK(relative_error(ops::log_softmax(r), ops::reference::softmax(r, true)) < 1e-5);
  }
}

TEST_CASE("CrossEntropyLoss matches hand values", "[ops][loss]") {
  nn::CrossEntropyLoss<float, cpu> ce;
  auto logits = TensorF::from_host(Shape{2, 3}, std::vector<float>{1, 2, 3, 0, 0, 0});
  // (-log softmax([1,2,3])[2] - log(1/3)) / 2
  CHECK(ce.forward(logits, {2, 0}) == Approx((0.40760596 + std::log(3.0)) / 2));
  auto d = ce.backward().to_vector();
  const std::vector<double> expect = {0.09003057 / 2, 0.24472847 / 2, (0.66524096 - 1) / 2,
                                      (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
  for (size_t i = 0; i < d.size(); ++i) CHECK(d[i] == Approx(expect[i]));
  auto d3 = ce.backward(3.0f).to_vector();
  CHECK(d3[0] == Approx(3 * expect[0]));

  Generator g(8);
  TensorF r = random_float(Shape{9, 37}, g, -5, 5);
  std::vector<int64_t> labels = {0, 36, 5, 7, 1, 2, 3, 30, 11};
  TensorF dref;
  const double lref = ops::reference::cross_entropy(r, labels, &dref);
  CHECK(ce.forward(r, labels) == Approx(lref).epsilon(1e-5));
  CHECK(relative_error(ce.backward(), dref) < 1e-5);

  CHECK_THROWS_AS(ce.forward(logits, {2, 3}), Error);
  CHECK_THROWS_AS(ce.forward(logits, {2, -1}), Error);
  CHECK_THROWS_AS(ce.forward(logits, {2}), ShapeError);
  nn::CrossEntropyLoss<float, cpu> fresh;
  CHECK_THROWS_AS(fresh.backward(), Error);
}

TEST_CASE("SmoothL1Loss matches the reference and hand values", "[ops][loss]") {
  nn::SmoothL1Loss<float, cpu> mean_loss, sum_loss(1.0, nn::Reduction::sum), l1(0.0, nn::Reduction::sum);
  auto p = TensorF::from_host(Shape{3}, std::vector<float>{0.5f, 3, -2});
  auto t = TensorF::from_host(Shape{3}, std::vector<float>{0, 0, 0});
  // 0.5 * 0.25 + (3 - 0.5) + (2 - 0.5)
  CHECK(sum_loss.forward(p, t) == Approx(4.125));
  CHECK(sum_loss.backward().to_vector() == std::vector<float>{0.5f, 1, -1});
  CHECK(mean_loss.forward(p, t) == Approx(4.125 / 3));
  CHECK(l1.forward(p, t) == Approx(5.5));
  Generator g(2);
  TensorF a = random_float(Shape{17, 4}, g), b = random_float(Shape{17, 4}, g);
  nn::SmoothL1Loss<float, cpu> half(0.5, nn::Reduction::sum);
  CHECK(half.forward(a, b) == Approx(ops::reference::smooth_l1_sum(a, b, 0.5)).epsilon(1e-5));
  CHECK_THROWS_AS(half.forward(a, TensorF(Shape{17, 3})), ShapeError);
}

TEST_CASE("reductions match the naive sums", "[ops][reduce]") {
  Generator g(6);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{100003}}) {
    TensorF a = random_float(Shape{n}, g), b = random_float(Shape{n}, g);
    double d = 0;
    for (int64_t i = 0; i < n; ++i) d += static_cast<double>(a.data()[i]) * b.data()[i];
    CHECK(ops::sum(a) == Approx(ops::reference::sum(a)).epsilon(1e-12));
    CHECK(ops::sum_squares(a) == Approx(ops::reference::sum_squares(a)).epsilon(1e-12));
    CHECK(ops::dot(a, b) == Approx(d).epsilon(1e-12));
  }
  CHECK(ops::sum(TensorF(Shape{0})) == 0.0);
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{4, 33, 2, 3}, Shape{6, 5}})
    for (int axis = 0; axis < s.rank(); ++axis) {
      TensorF x = random_float(s, g);
      CHECK(rel(as_double(ops::channel_sum(x, axis)), ops::reference::channel_sum(x, axis)) < 1e-5);
    }
  CHECK_THROWS_AS(ops::channel_sum(TensorF(Shape{2}), 1), ShapeError);
  CHECK_THROWS_AS(ops::dot(TensorF(Shape{2}), TensorF(Shape{3})), ShapeError);
}

TEST_CASE("ChannelOf divides exactly without hardware division", "[ops][functors]") {
  Generator g(10);
  for (uint64_t d : std::vector<uint64_t>{1, 2, 3, 7, 64, 3136, 12544, 65537, 1000003, 2147483649ull, 4294967295ull}) {
    functors::FastDivisor f(d);
    for (uint64_t n : std::vector<uint64_t>{0, 1, d - 1, d, d + 1, 2147483648ull, 4294967294ull, 4294967295ull})
      if (n < (uint64_t{1} << 32)) REQUIRE(f.divide(n) == n / d);
    for (int k = 0; k < 20000; ++k) {
      const uint64_t n = g.next_u64() & 0xffffffffull;
      REQUIRE(f.divide(n) == n / d);
    }
  }
  for (int k = 0; k < 20000; ++k) {
    const uint64_t d = (g.next_u64() & 0xffffffffull) | 1, n = g.next_u64() & 0xffffffffull;
    REQUIRE(functors::FastDivisor(d).divide(n) == n / d);
  }
  const functors::ChannelOf ch(5, 12, 3 * 5 * 12), wide(5, 12, int64_t{1} << 33);
  for (int64_t i = 0; i < 3 * 5 * 12; ++i) REQUIRE(ch(i) == (i / 12) % 5);
  REQUIRE(wide((int64_t{1} << 33) - 1) == (((int64_t{1} << 33) - 1) / 12) % 5);
}
