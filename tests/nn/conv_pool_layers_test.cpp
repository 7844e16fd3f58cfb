#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::gradcheck;
using rfcf::testing::random_tensor;
using TensorD = Tensor<double, cpu>;

namespace {
std::map<std::string, Shape> parameter_shapes(auto&& layer) {
  std::map<std::string, Shape> m;
  nn::for_each_parameter(layer, [&](const std::string& name, auto& p) { m[name] = p.shape(); });
  return m;
}
}  // namespace

TEST_CASE("Conv2d passes the gradient check", "[nn][conv2d][gradcheck]") {
  Generator g(11);
  struct Case {
    const char* name;
    int64_t in, out, h, w;
    nn::Conv2dOptions o;
  };
  nn::Conv2dOptions rect;
  rect.kernel_h = 3, rect.kernel_w = 2;
  const Case cases[] = {
      {"3x3 pad 1 bias", 3, 4, 6, 5, nn::Conv2dOptions::k(3).padded(1).with_bias()},
      {"3x3 stride 2", 2, 3, 7, 6, nn::Conv2dOptions::k(3).strided(2).padded(1)},
      {"1x1 bias", 4, 3, 3, 4, nn::Conv2dOptions::k(1).with_bias()},
      {"grouped", 4, 6, 5, 5, nn::Conv2dOptions::k(3).padded(1).grouped(2).with_bias()},
      {"depthwise", 3, 3, 6, 7, nn::Conv2dOptions::k(3).padded(1).grouped(3)},
      {"depthwise stride 2 bias", 2, 2, 7, 7, nn::Conv2dOptions::k(3).strided(2).padded(1).grouped(2).with_bias()},
      {"dilated", 2, 2, 7, 8, nn::Conv2dOptions::k(3).padded(2).dilated(2)},
      {"rectangular", 2, 3, 5, 6, rect.padded(1).with_bias()},
  };
  for (const auto& c : cases) {
    INFO("case: " << c.name);
    nn::Conv2d<double, cpu> conv(c.in, c.out, c.o, g);
    const auto r = gradcheck(conv, random_tensor(Shape{2, c.in, c.h, c.w}, g));
    CHECK(r.input_error < 1e-6);
    CHECK(r.param_error < 1e-6);
  }
}

TEST_CASE("Conv2d options, names, init and input-grad switch", "[nn][conv2d]") {
  const auto o = nn::Conv2dOptions::k(3).strided(2).padded(1).grouped(2).with_bias();
  CHECK((o.kernel_h == 3 && o.kernel_w == 3 && o.stride == 2 && o.padding == 1 && o.groups == 2 && o.bias));
  CHECK(nn::Conv2dOptions::k(3).bias == false);

  Generator g(1);
  nn::Conv2d<float, cpu> conv(8, 16, o, g);
  auto shapes = parameter_shapes(conv);
  REQUIRE(shapes.size() == 2);
  CHECK(shapes["weight"] == Shape{16, 4, 3, 3});
  CHECK(shapes["bias"] == Shape{16});
  // PyTorch default init: both bounded by 1/sqrt(fan_in) = 1/6 (kaiming_uniform with a = sqrt(5)).
  double wmax = 0, bmax = 0;
  for (float v : conv.weight().value.to_vector()) wmax = std::max(wmax, std::abs(double(v)));
  for (float v : conv.bias().value.to_vector()) bmax = std::max(bmax, std::abs(double(v)));
  CHECK(wmax <= 1.0 / 6.0);
  CHECK(wmax > 0.9 / 6.0);
  CHECK(bmax <= 1.0 / 6.0);
  CHECK(parameter_shapes(nn::Conv2d<float, cpu>(3, 8, nn::Conv2dOptions::k(3))).size() == 1);

  Tensor<float, cpu> xf(Shape{1, 8, 5, 5});
  init::uniform(xf, g, -1.0, 1.0);
  auto y = conv.forward(xf);
  CHECK(y.shape() == Shape{1, 16, 3, 3});
  conv.set_input_grad(false);
  CHECK_FALSE(conv.backward(ones<float, cpu>(y.shape())).defined());
  CHECK(conv.weight().grad.to_vector() != std::vector<float>(16 * 4 * 9, 0.0f));

  CHECK_THROWS_AS(conv.forward(Tensor<float, cpu>(Shape{1, 3, 5, 5})), ShapeError);
  CHECK_THROWS_AS((nn::Conv2d<float, cpu>(6, 4, nn::Conv2dOptions::k(3).grouped(4))), ConfigError);
  CHECK_THROWS_AS((nn::Conv2d<float, cpu>(4, 4, nn::Conv2dOptions::k(0))), ConfigError);
}

TEST_CASE("Linear and Flatten pass the gradient check", "[nn][linear][gradcheck]") {
  Generator g(12);
  SECTION("Linear with bias") {
    nn::Linear<double, cpu> fc(7, 5, true, g);
    CHECK(gradcheck(fc, random_tensor(Shape{3, 7}, g)).max_error() < 1e-6);
    auto shapes = parameter_shapes(fc);
    CHECK(shapes["weight"] == Shape{5, 7});
    CHECK(shapes["bias"] == Shape{5});
  }
  SECTION("Linear without bias") {
    nn::Linear<double, cpu> fc(4, 6, false, g);
    CHECK(gradcheck(fc, random_tensor(Shape{2, 4}, g)).max_error() < 1e-6);
    CHECK(parameter_shapes(fc).size() == 1);
    CHECK_THROWS_AS(fc.forward(random_tensor(Shape{2, 5}, g)), ShapeError);
  }
  SECTION("Flatten") {
    nn::Flatten<double, cpu> flat;
    auto y = flat.forward(random_tensor(Shape{2, 3, 4, 5}, g));
    CHECK(y.shape() == Shape{2, 60});
    CHECK(gradcheck(flat, random_tensor(Shape{2, 3, 2, 2}, g)).max_error() < 1e-6);
  }
  SECTION("Conv -> MaxPool -> Flatten -> Linear") {
    nn::Sequential net{nn::Conv2d<double, cpu>(2, 3, nn::Conv2dOptions::k(3).padded(1).with_bias(), g),
                       nn::MaxPool2d<double, cpu>(2, 2), nn::Flatten<double, cpu>(),
                       nn::Linear<double, cpu>(3 * 3 * 2, 4, true, g)};
    const auto r = gradcheck(net, random_tensor(Shape{2, 2, 6, 5}, g));
    CHECK(r.max_error() < 1e-6);
    CHECK(parameter_shapes(net).count("3.bias") == 1);
  }
}

TEST_CASE("pooling and upsampling layers pass the gradient check", "[nn][pooling][gradcheck]") {
  Generator g(13);
  SECTION("MaxPool2d overlapping, padded") {
    nn::MaxPool2d<double, cpu> pool(3, 2, 1);
    CHECK(gradcheck(pool, random_tensor(Shape{2, 2, 7, 6}, g)).max_error() < 1e-6);
  }
  SECTION("MaxPool2d default stride") {
    nn::MaxPool2d<double, cpu> pool(2);
    CHECK(pool.forward(random_tensor(Shape{1, 1, 5, 4}, g)).shape() == Shape{1, 1, 2, 2});
    CHECK(gradcheck(pool, random_tensor(Shape{1, 3, 5, 4}, g)).max_error() < 1e-6);
  }
  SECTION("AvgPool2d") {
    nn::AvgPool2d<double, cpu> pool(3, 2, 1);
    CHECK(gradcheck(pool, random_tensor(Shape{2, 2, 7, 6}, g)).max_error() < 1e-6);
  }
  SECTION("GlobalAvgPool2d") {
    nn::GlobalAvgPool2d<double, cpu> pool;
    CHECK(gradcheck(pool, random_tensor(Shape{2, 3, 4, 5}, g)).max_error() < 1e-6);
  }
  SECTION("UpsampleNearest non-integer and exact ratios") {
    nn::UpsampleNearest<double, cpu> up39(39, 40), up_down(3, 5);
    CHECK(gradcheck(up39, random_tensor(Shape{1, 2, 20, 20}, g)).max_error() < 1e-6);
    CHECK(gradcheck(up_down, random_tensor(Shape{2, 1, 7, 6}, g)).max_error() < 1e-6);
    nn::UpsampleNearest<double, cpu> up;
    CHECK(up.forward(random_tensor(Shape{1, 1, 2, 3}, g), 4, 6).shape() == Shape{1, 1, 4, 6});
    CHECK_THROWS_AS(up.forward(random_tensor(Shape{1, 1, 2, 3}, g)), ConfigError);
  }
  SECTION("bad options") {
    CHECK_THROWS_AS((nn::MaxPool2d<double, cpu>(2, 1, 2)), ConfigError);
    CHECK_THROWS_AS((nn::AvgPool2d<double, cpu>(0)), ConfigError);
  }
}
