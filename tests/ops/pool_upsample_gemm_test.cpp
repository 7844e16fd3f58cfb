#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "rfcf/ops/reference/gemm.hpp"
#include "rfcf/ops/reference/pooling.hpp"
#include "rfcf/ops/reference/upsample.hpp"
#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::relative_error;
using TensorF = Tensor<float, cpu>;

namespace {
TensorF random_float(const Shape& s, Generator& g) {
  TensorF t(s);
  init::uniform(t, g, -1.0, 1.0);
  return t;
}
struct PoolCase {
  int64_t n, c, h, w, k, s, p;
};
const PoolCase kPoolCases[] = {
    {2, 3, 7, 9, 3, 2, 1}, {1, 2, 5, 5, 2, 2, 0}, {1, 4, 6, 7, 3, 1, 1}, {2, 1, 4, 4, 1, 1, 0},
    {1, 3, 11, 8, 5, 3, 2}, {1, 1, 3, 3, 3, 3, 0}, {1, 2, 9, 10, 4, 2, 2},
};
}  // namespace

TEST_CASE("max_pool2d matches the naive reference", "[ops][pooling]") {
  Generator gen(5);
  for (const auto& c : kPoolCases) {
    INFO("k " << c.k << " s " << c.s << " p " << c.p << " on " << c.h << "x" << c.w);
    TensorF x = random_float(Shape{c.n, c.c, c.h, c.w}, gen);
    auto r = ops::max_pool2d(x, ops::Pool2dOptions{c.k, c.s, c.p});
    TensorF y_ref = ops::reference::max_pool2d(x, c.k, c.s, c.p);
    REQUIRE(r.y.shape() == y_ref.shape());
    CHECK(relative_error(r.y, y_ref) == 0.0);
    TensorF dy = random_float(r.y.shape(), gen);
    TensorF dx = ops::max_pool2d_backward(dy, r.argmax, x.shape(), ops::Pool2dOptions{c.k, c.s, c.p});
    CHECK(relative_error(dx, ops::reference::max_pool2d_backward(x, dy, c.k, c.s, c.p)) < 1e-5);
  }
}

TEST_CASE("max_pool2d pads with -inf and propagates NaN", "[ops][pooling]") {
  TensorF x = full<float, cpu>(Shape{1, 1, 2, 2}, -5.0f);
  auto r = ops::max_pool2d(x, ops::Pool2dOptions{3, 1, 1});
  for (float v : r.y.to_vector()) CHECK(v == -5.0f);
  x.data()[3] = std::numeric_limits<float>::quiet_NaN();
  r = ops::max_pool2d(x, ops::Pool2dOptions{2, 1, 0});
  CHECK(std::isnan(r.y.data()[0]));
  // stride 0 means stride = kernel
  CHECK(ops::max_pool2d(TensorF(Shape{1, 1, 6, 6}), ops::Pool2dOptions{2, 0, 0}).y.shape() == Shape{1, 1, 3, 3});
}

TEST_CASE("avg_pool2d matches the reference and counts padding", "[ops][pooling]") {
  Generator gen(6);
  for (const auto& c : kPoolCases) {
    TensorF x = random_float(Shape{c.n, c.c, c.h, c.w}, gen);
    const ops::Pool2dOptions o{c.k, c.s, c.p};
    TensorF y = ops::avg_pool2d(x, o);
    CHECK(relative_error(y, ops::reference::avg_pool2d(x, c.k, c.s, c.p)) < 1e-5);
    TensorF dy = random_float(y.shape(), gen);
    CHECK(relative_error(ops::avg_pool2d_backward(dy, x.shape(), o),
                         ops::reference::avg_pool2d_backward(dy, x.shape(), c.k, c.s, c.p)) < 1e-5);
  }
  TensorF ones_in = ones<float, cpu>(Shape{1, 1, 3, 3});
  TensorF y = ops::avg_pool2d(ones_in, ops::Pool2dOptions{3, 1, 1});
  CHECK(y.data()[0] == Approx(4.0 / 9.0));  // corner: 4 real ones over a 3x3 divisor
  CHECK(y.data()[4] == Approx(1.0));
}

TEST_CASE("global_avg_pool2d matches the reference", "[ops][pooling]") {
  Generator gen(7);
  TensorF x = random_float(Shape{3, 5, 7, 6}, gen);
  TensorF y = ops::global_avg_pool2d(x);
  REQUIRE(y.shape() == Shape{3, 5, 1, 1});
  CHECK(relative_error(y, ops::reference::global_avg_pool2d(x)) < 1e-5);
  TensorF dx = ops::global_avg_pool2d_backward(y, x.shape());
  CHECK(dx.data()[41] == Approx(y.data()[0] / 42.0f));
}

TEST_CASE("pooling rejects bad options and shapes", "[ops][pooling]") {
  TensorF x(Shape{1, 1, 4, 4});
  CHECK_THROWS_AS(ops::max_pool2d(x, ops::Pool2dOptions{2, 1, 2}), ConfigError);  // pad > kernel / 2
  CHECK_THROWS_AS(ops::avg_pool2d(x, ops::Pool2dOptions{0, 1, 0}), ConfigError);
  CHECK_THROWS_AS(ops::avg_pool2d(x, ops::Pool2dOptions{5, 1, 0}), ShapeError);
  CHECK_THROWS_AS(ops::max_pool2d(TensorF(Shape{4, 4}), ops::Pool2dOptions{2, 2, 0}), ShapeError);
  CHECK_THROWS_AS(ops::avg_pool2d_backward(TensorF(Shape{1, 1, 3, 3}), x.shape(), ops::Pool2dOptions{2, 2, 0}),
                  ShapeError);
}

TEST_CASE("upsample_nearest follows PyTorch's legacy nearest rule", "[ops][upsample]") {
  // Source indices printed by F.interpolate(arange(in), size=out, mode='nearest') (torch 1.13).
  struct Expected {
    int64_t in, out;
    std::vector<float> src;
  };
  const Expected cases[] = {
      {20, 39, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9,
                10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19}},
      {13, 32, {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 8, 9, 9, 10, 10, 10, 11, 11, 12, 12}},
      {7, 3, {0, 2, 4}},
      {3, 11, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2}},
  };
  for (const auto& e : cases) {
    INFO(e.in << " -> " << e.out);
    std::vector<float> ramp(static_cast<size_t>(e.in));
    for (int64_t i = 0; i < e.in; ++i) ramp[static_cast<size_t>(i)] = static_cast<float>(i);
    // along the width and along the height
    auto row = ops::upsample_nearest(TensorF::from_host(Shape{1, 1, 1, e.in}, ramp), 1, e.out);
    CHECK(row.to_vector() == e.src);
    auto col = ops::upsample_nearest(TensorF::from_host(Shape{1, 1, e.in, 1}, ramp), e.out, 1);
    CHECK(col.to_vector() == e.src);
  }
}

TEST_CASE("upsample_nearest matches the reference forward and backward", "[ops][upsample]") {
  Generator gen(8);
  const int64_t sizes[][4] = {{20, 20, 39, 40}, {39, 5, 78, 10}, {5, 6, 5, 6}, {9, 7, 4, 3}, {3, 1, 10, 17}, {78, 80, 156, 160}};
  for (const auto& s : sizes) {
    INFO(s[0] << "x" << s[1] << " -> " << s[2] << "x" << s[3]);
    TensorF x = random_float(Shape{2, 3, s[0], s[1]}, gen);
    TensorF y = ops::upsample_nearest(x, s[2], s[3]);
    CHECK(relative_error(y, ops::reference::upsample_nearest(x, s[2], s[3])) == 0.0);
    TensorF dy = random_float(y.shape(), gen);
    CHECK(relative_error(ops::upsample_nearest_backward(dy, x.shape()),
                         ops::reference::upsample_nearest_backward(dy, x.shape())) < 1e-5);
  }
  CHECK_THROWS_AS(ops::upsample_nearest(TensorF(Shape{1, 1, 2, 2}), 0, 4), ShapeError);
}

TEST_CASE("Gemm<cpu> matches the naive reference", "[ops][gemm]") {
  Generator gen(9);
  // The last two are large enough for the threaded OpenBLAS split (by rows, by columns).
  for (auto [M, N, K] : {std::array<int64_t, 3>{13, 7, 19}, std::array<int64_t, 3>{67, 45, 3000},
                         std::array<int64_t, 3>{30, 100, 3000}})
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        INFO(M << "x" << N << "x" << K << " trans_a " << ta << " trans_b " << tb << " beta " << beta);
        const int64_t pad = 3, lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        TensorF a = random_float(Shape{(ta ? K : M) * lda}, gen), b = random_float(Shape{(tb ? N : K) * ldb}, gen);
        TensorF c0 = random_float(Shape{M * ldc}, gen), c = c0.clone(), c_ref = c0.clone();
        ops::Gemm<cpu>::run(ta, tb, M, N, K, 0.75f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
        ops::reference::gemm(ta, tb, M, N, K, 0.75f, a.data(), lda, b.data(), ldb, beta, c_ref.data(), ldc);
        CHECK(relative_error(c, c_ref) < 1e-5);
        // the Eigen fallback (used without OpenBLAS and for other scalar types)
        TensorF c_eigen = c0.clone();
        ops::cpu_detail::eigen_gemm(ta, tb, M, N, K, 0.75f, a.data(), lda, b.data(), ldb, beta, c_eigen.data(), ldc);
        CHECK(relative_error(c_eigen, c_ref) < 1e-5);
      }
}
