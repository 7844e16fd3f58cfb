#include <catch2/catch.hpp>

#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::gradcheck;
using rfcf::testing::random_tensor;

TEST_CASE("LeakyReLU forward matches the definition", "[nn]") {
  nn::LeakyReLU<float, cpu> act(0.1);
  auto x = Tensor<float, cpu>::from_host(Shape{4}, std::vector<float>{-2, -0.5f, 0, 3});
  REQUIRE(act.forward(x).to_vector() == std::vector<float>{-0.2f, -0.05f, 0, 3});
}

TEST_CASE("composites pass the gradient check", "[nn][gradcheck]") {
  using L = nn::LeakyReLU<double, cpu>;
  Generator g(1);
  auto x = random_tensor(Shape{2, 3, 4, 5}, g);
  SECTION("Sequential") {
    nn::Sequential net{L(0.1), L(0.3)};
    REQUIRE(gradcheck(net, x).max_error() < 1e-6);
  }
  SECTION("Residual") {
    nn::Residual res{nn::Sequential{L(0.2), L(0.5)}};
    REQUIRE(gradcheck(res, x).max_error() < 1e-6);
  }
  SECTION("Concat") {
    nn::Concat cat{L(0.1), nn::Sequential{L(0.2), L(0.7)}, nn::Identity<double, cpu>()};
    auto y = cat.forward(x);
    REQUIRE(y.shape() == Shape{2, 9, 4, 5});
    REQUIRE(gradcheck(cat, x).max_error() < 1e-6);
  }
  SECTION("Repeat") {
    nn::Repeat<L> rep({L(0.1), L(0.2), L(0.3)});
    REQUIRE(gradcheck(rep, x).max_error() < 1e-6);
  }
}

TEST_CASE("NoGradGuard stops caching", "[nn]") {
  nn::LeakyReLU<float, cpu> act(0.1);
  auto x = Tensor<float, cpu>::from_host(Shape{1}, std::vector<float>{1});
  {
    nn::NoGradGuard guard;
    act.forward(x);
  }
  REQUIRE_THROWS_AS(act.backward(x), Error);
}
