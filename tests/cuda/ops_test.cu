// Gemm<cuda> (cuBLAS) and Conv2dOp<cuda> (cuDNN) against the naive host references.
#include <catch2/catch.hpp>

#include <cuda_fp16.h>

#include <string>
#include <vector>

#include "cuda/compare.hpp"
#include "cuda/cpu_reference.hpp"
#include "rfcf/cuda.cuh"

using namespace rfcf;
using rfcf::test::random_vector;
using rfcf::test::relative_error;

namespace {

// fp32 GEMM is exact FMA arithmetic; cuDNN may pick Winograd or FFT algorithms, whose fp32
// rounding is larger (still far below 1e-4 without TF32).
template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}
template <class T>
double conv_tolerance() {
  return sizeof(T) == 4 ? 1e-4 : 1e-10;
}

template <class T>
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t pad, uint64_t seed) {
  // Row strides larger than the rows (pad > 0) check the ld mapping.
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  const auto A = random_vector<T>(static_cast<size_t>(a_rows * lda), seed);
  const auto B = random_vector<T>(static_cast<size_t>(b_rows * ldb), seed + 1);
  auto C = random_vector<T>(static_cast<size_t>(M * ldc), seed + 2);
  const T alpha = T(1.5), beta = T(0.5);
  auto dA = Tensor<T, cuda>::from_host(Shape{static_cast<int64_t>(A.size())}, A);
  auto dB = Tensor<T, cuda>::from_host(Shape{static_cast<int64_t>(B.size())}, B);
  auto dC = Tensor<T, cuda>::from_host(Shape{static_cast<int64_t>(C.size())}, C);
  ops::Gemm<cuda>::run(ta, tb, M, N, K, alpha, dA.data(), lda, dB.data(), ldb, beta, dC.data(), ldc);
  rfcf::test::gemm_reference(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  INFO("trans_a=" << ta << " trans_b=" << tb << " M=" << M << " N=" << N << " K=" << K << " pad=" << pad);
  CHECK(relative_error(dC.to_vector(), C) < tolerance<T>());
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ops::Conv2dGeometry g;
  bool bias;
};

ops::Conv2dGeometry geometry(int64_t kh, int64_t kw, int64_t stride, int64_t pad, int64_t dilation = 1,
                             int64_t groups = 1) {
  ops::Conv2dGeometry g;
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = pad;
  g.dilation_h = g.dilation_w = dilation;
  g.groups = groups;
  return g;
}

std::vector<ConvCase> conv_cases() {
  ops::Conv2dGeometry odd = geometry(3, 5, 1, 0);
  odd.stride_h = 2;
  odd.pad_w = 2;
  return {
      {"3x3 pad 1", {2, 3, 9, 9}, {5, 3, 3, 3}, geometry(3, 3, 1, 1), true},
      {"1x1", {2, 8, 7, 5}, {4, 8, 1, 1}, geometry(1, 1, 1, 0), false},
      {"3x3 stride 2", {2, 4, 11, 10}, {6, 4, 3, 3}, geometry(3, 3, 2, 1), true},
      {"depthwise 3x3", {2, 6, 8, 8}, {6, 1, 3, 3}, geometry(3, 3, 1, 1, 1, 6), false},
      {"depthwise x2 stride 2", {2, 4, 9, 9}, {8, 1, 3, 3}, geometry(3, 3, 2, 1, 1, 4), true},
      {"dilation 2", {2, 3, 12, 12}, {4, 3, 3, 3}, geometry(3, 3, 1, 2, 2), false},
      {"groups 2", {3, 4, 6, 7}, {6, 2, 3, 3}, geometry(3, 3, 1, 1, 1, 2), true},
      {"batch 1, 3x5 kernel, mixed stride/pad", {1, 3, 10, 9}, {2, 3, 3, 5}, odd, true},
      {"5x5 stride 2 pad 2", {1, 16, 15, 15}, {32, 16, 5, 5}, geometry(5, 5, 2, 2), false},
  };
}

template <class T>
void check_conv(const ConvCase& c, uint64_t seed) {
  INFO("case: " << c.name << " (" << (sizeof(T) == 4 ? "float" : "double") << ")");
  using DT = Tensor<T, cuda>;
  const auto x = random_vector<T>(c.x.numel(), seed);
  const auto w = random_vector<T>(c.w.numel(), seed + 1);
  const auto b = random_vector<T>(c.w[0], seed + 2);
  const auto dx_ = DT::from_host(c.x, x), dw_ = DT::from_host(c.w, w), db_ = DT::from_host(Shape{c.w[0]}, b);

  const DT y = ops::Conv2dOp<cuda>::forward(c.g, dx_, dw_, c.bias ? &db_ : nullptr);
  const Shape y_shape{c.x[0], c.w[0], c.g.out_h(c.x[2]), c.g.out_w(c.x[3])};
  REQUIRE(y.shape() == y_shape);
  const auto y_ref = rfcf::test::conv2d_forward_reference(c.g, c.x, x, c.w, w, c.bias ? &b : nullptr);
  CHECK(relative_error(y.to_vector(), y_ref) < conv_tolerance<T>());

  const auto dy = random_vector<T>(y_shape.numel(), seed + 3);
  const DT ddy = DT::from_host(y_shape, dy);
  const DT gx = ops::Conv2dOp<cuda>::backward_data(c.g, ddy, dw_, c.x);
  CHECK(relative_error(gx.to_vector(), rfcf::test::conv2d_backward_data_reference(c.g, c.x, c.w, w, dy)) <
        conv_tolerance<T>());

  // backward_weight accumulates into what dw and db already hold.
  const auto dw0 = random_vector<T>(c.w.numel(), seed + 4), db0 = random_vector<T>(c.w[0], seed + 5);
  DT gw = DT::from_host(c.w, dw0), gb = DT::from_host(Shape{c.w[0]}, db0);
  ops::Conv2dOp<cuda>::backward_weight(c.g, dx_, ddy, gw, c.bias ? &gb : nullptr);
  auto [dw_ref, db_ref] = rfcf::test::conv2d_backward_weight_reference(c.g, c.x, x, c.w, dy);
  for (size_t i = 0; i < dw_ref.size(); ++i) dw_ref[i] += dw0[i];
  for (size_t i = 0; i < db_ref.size(); ++i) db_ref[i] = c.bias ? db_ref[i] + db0[i] : db0[i];
  CHECK(relative_error(gw.to_vector(), dw_ref) < conv_tolerance<T>());
  CHECK(relative_error(gb.to_vector(), db_ref) < conv_tolerance<T>());
}

}  // namespace

TEST_CASE("Gemm<cuda> matches the host reference for every transpose and odd sizes", "[cuda][gemm]") {
  const int64_t sizes[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 17, 65}, {128, 64, 96}, {3, 200, 1}};
  uint64_t seed = 10;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& s : sizes)
        for (int64_t pad : {0, 3}) {
          check_gemm<float>(ta, tb, s[0], s[1], s[2], pad, seed);
          check_gemm<double>(ta, tb, s[0], s[1], s[2], pad, seed + 100);
          seed += 7;
        }
}

TEST_CASE("Gemm<cuda> edge cases and errors", "[cuda][gemm]") {
  // K = 0: C = beta * C.
  auto c = Tensor<float, cuda>::from_host(Shape{2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  ops::Gemm<cuda>::run(false, false, 2, 3, 0, 1.0f, c.data(), 1, c.data(), 3, 2.0f, c.data(), 3);
  CHECK(c.to_vector() == std::vector<float>{2, 4, 6, 8, 10, 12});
  // M = 0 or N = 0: nothing happens.
  ops::Gemm<cuda>::run(false, false, 0, 3, 4, 1.0f, c.data(), 4, c.data(), 3, 0.0f, c.data(), 3);
  CHECK_THROWS_AS(ops::Gemm<cuda>::run(false, false, -1, 3, 4, 1.0f, c.data(), 4, c.data(), 3, 0.0f, c.data(), 3),
                  ShapeError);
  CHECK_THROWS_WITH(ops::Gemm<cuda>::run(false, false, 2, 3, 4, 1.0f, c.data(), 3, c.data(), 3, 0.0f, c.data(), 3),
                    Catch::Contains("lda=3"));
}

TEST_CASE("Gemm<cuda>::run_mixed multiplies half storage with fp32 accumulation", "[cuda][gemm]") {
  const int64_t M = 37, N = 29, K = 64;
  const auto A = random_vector<float>(M * K, 1), B = random_vector<float>(N * K, 2);
  std::vector<__half> hA(A.size()), hB(B.size());
  std::vector<float> Ar(A.size()), Br(B.size());  // the values after rounding to half
  for (size_t i = 0; i < A.size(); ++i) Ar[i] = __half2float(hA[i] = __float2half(A[i]));
  for (size_t i = 0; i < B.size(); ++i) Br[i] = __half2float(hB[i] = __float2half(B[i]));
  auto dA = Tensor<__half, cuda>::from_host(Shape{M, K}, hA);
  auto dB = Tensor<__half, cuda>::from_host(Shape{N, K}, hB);
  Tensor<__half, cuda> dC(Shape{M, N});
  ops::Gemm<cuda>::run_mixed(false, true, M, N, K, 1.0f, dA.data(), K, dB.data(), K, 0.0f, dC.data(), N);
  std::vector<float> ref(M * N);
  rfcf::test::gemm_reference(false, true, M, N, K, 1.0f, Ar.data(), K, Br.data(), K, 0.0f, ref.data(), N);
  std::vector<float> got;
  for (const __half h : dC.to_vector()) got.push_back(__half2float(h));
  CHECK(relative_error(got, ref) < 2e-3);  // half rounding of the result
}

TEST_CASE("Conv2dOp<cuda> forward, backward_data and backward_weight match the host loops", "[cuda][conv]") {
  uint64_t seed = 1000;
  for (const auto& c : conv_cases()) {
    check_conv<float>(c, seed);
    check_conv<double>(c, seed + 50);
    seed += 100;
  }
}

TEST_CASE("Conv2dOp<cuda> reuses cached plans and supports exhaustive search and TF32", "[cuda][conv]") {
  const ConvCase c{"3x3 64->64", {2, 64, 20, 20}, {64, 64, 3, 3}, geometry(3, 3, 1, 1), true};
  check_conv<float>(c, 7);
  check_conv<float>(c, 8);  // second run: plan from the cache
  cuda_rt::set_conv_algo_search(cuda_rt::ConvAlgoSearch::exhaustive);
  check_conv<float>(c, 9);
  cuda_rt::set_conv_algo_search(cuda_rt::ConvAlgoSearch::heuristic);

  cuda_rt::allow_tf32(true);
  const auto x = random_vector<float>(c.x.numel(), 3), w = random_vector<float>(c.w.numel(), 4);
  const auto y = ops::Conv2dOp<cuda>::forward(c.g, Tensor<float, cuda>::from_host(c.x, x),
                                              Tensor<float, cuda>::from_host(c.w, w), nullptr);
  cuda_rt::allow_tf32(false);
  CHECK(relative_error(y.to_vector(), rfcf::test::conv2d_forward_reference<float>(c.g, c.x, x, c.w, w, nullptr)) <
        5e-3);
}

TEST_CASE("Conv2dOp<cuda> rejects shapes that do not fit", "[cuda][conv]") {
  const auto g = geometry(3, 3, 1, 1);
  Tensor<float, cuda> x(Shape{1, 4, 8, 8}), w(Shape{5, 3, 3, 3}), dy(Shape{1, 5, 7, 7});
  CHECK_THROWS_WITH(ops::Conv2dOp<cuda>::forward(g, x, w, nullptr), Catch::Contains("[5, 3, 3, 3]"));
  Tensor<float, cuda> w2(Shape{5, 4, 3, 3}), bias(Shape{4});
  CHECK_THROWS_AS(ops::Conv2dOp<cuda>::forward(g, x, w2, &bias), ShapeError);
  CHECK_THROWS_WITH(ops::Conv2dOp<cuda>::backward_data(g, dy, w2, x.shape()), Catch::Contains("[1, 5, 7, 7]"));
  auto bad = g;
  bad.stride_h = 0;
  CHECK_THROWS_AS(ops::Conv2dOp<cuda>::forward(bad, x, w2, nullptr), ConfigError);
  Tensor<float, cuda> tiny(Shape{1, 4, 1, 1});
  CHECK_THROWS_AS(ops::Conv2dOp<cuda>::forward(geometry(3, 3, 1, 0), tiny, w2, nullptr), ShapeError);
}
