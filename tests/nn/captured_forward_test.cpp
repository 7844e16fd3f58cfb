// CapturedForward on the cpu (replay = forward, same API as the CUDA-graph version), for a
// Tensor-returning stack and for RetinaFace's struct of tensors; the per-shape LRU cache.
#include <catch2/catch.hpp>

#include "rfcf/core/staging.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/models/mobilenet_v1.hpp"
#include "rfcf/models/retinaface.hpp"
#include "rfcf/nn.hpp"

using namespace rfcf;

namespace {
Tensor<float, cpu> random_input(const Shape& s, uint64_t seed) {
  Tensor<float, cpu> t(s);
  Generator g(seed);
  init::uniform(t, g, -1.0, 1.0);
  return t;
}
void require_equal(const Tensor<float, cpu>& a, const Tensor<float, cpu>& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.to_vector() == b.to_vector());
}
}  // namespace

TEST_CASE("CapturedForward<cpu> of a Sequential equals forward, new inputs give new results", "[nn][captured]") {
  nn::Sequential net{nn::Conv2d<float, cpu>(3, 4, nn::Conv2dOptions::k(3).padded(1).with_bias()),
                     nn::LeakyReLU<float, cpu>(0.1), nn::GlobalAvgPool2d<float, cpu>(), nn::Flatten<float, cpu>()};
  net.train(false);
  const Shape shape{2, 3, 8, 6};
  nn::CapturedForward<decltype(net)> fwd(net, shape);
  REQUIRE(fwd.input_shape() == shape);
  REQUIRE_FALSE(fwd.captured());

  const auto x1 = random_input(shape, 1), x2 = random_input(shape, 2);
  nn::NoGradGuard no_grad;
  const auto ref1 = net.forward(x1), ref2 = net.forward(x2);
  fwd.input().copy_from(x1);
  require_equal(fwd.replay(), ref1);
  require_equal(fwd.run(x2), ref2);
  require_equal(fwd.run(x1), ref1);

  const auto wrong = random_input(Shape{1, 3, 8, 6}, 3);
  try {
    (void)fwd.run(wrong);
    FAIL("a wrong input shape must throw");
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("[1, 3, 8, 6]") != std::string::npos);
    CHECK(msg.find("[2, 3, 8, 6]") != std::string::npos);
  }
}

TEST_CASE("CapturedForward<cpu> of RetinaFace returns the struct of head outputs", "[nn][captured]") {
  models::RetinaFace<models::MobileNetV1025, cpu> net;
  net.train(false);
  const Shape shape{1, 3, 64, 96};
  nn::CapturedForward<decltype(net)> fwd(net, shape);
  const auto x = random_input(shape, 4);
  nn::NoGradGuard no_grad;
  const auto ref = net.forward(x);
  const auto out = fwd.run(x);
  require_equal(out.loc, ref.loc);
  require_equal(out.conf, ref.conf);
  require_equal(out.landms, ref.landms);
  CHECK_THROWS_AS(fwd.run(random_input(Shape{1, 3, 96, 64}, 5)), ShapeError);
}

TEST_CASE("CapturedForwardCache keeps the most recent shapes", "[nn][captured]") {
  nn::Sequential net{nn::ReLU<float, cpu>()};
  nn::CapturedForwardCache<decltype(net)> cache(net, 2);
  const Shape a{1, 1, 2, 2}, b{1, 1, 3, 3}, c{2, 1, 2, 2};
  auto* pa = &cache.get(a);
  auto* pb = &cache.get(b);
  CHECK(pa != pb);
  CHECK(&cache.get(a) == pa);  // a becomes the most recent
  (void)cache.get(c);          // evicts b
  CHECK(cache.size() == 2);
  CHECK(&cache.get(a) == pa);
  CHECK(cache.get(b).input_shape() == b);  // created again
  CHECK(cache.size() == 2);
  const auto x = random_input(a, 6);
  std::vector<float> expect = x.to_vector();
  for (float& v : expect) v = v > 0 ? v : 0.f;
  REQUIRE(cache.get(a).run(x).to_vector() == expect);
}

TEST_CASE("CapturedForwardCache::get_if_repeated captures a shape at its second sighting", "[nn][captured]") {
  nn::Sequential net{nn::ReLU<float, cpu>()};
  nn::CapturedForwardCache<decltype(net)> cache(net, 1);
  const Shape a{1, 1, 2, 2}, b{1, 1, 3, 3};
  CHECK(cache.get_if_repeated(a) == nullptr);
  CHECK(cache.get_if_repeated(b) == nullptr);
  auto* pa = cache.get_if_repeated(a);
  REQUIRE(pa != nullptr);
  CHECK(pa->input_shape() == a);
  CHECK(cache.get_if_repeated(a) == pa);
  CHECK(cache.get_if_repeated(b) != nullptr);  // b was seen before: captured, a evicted (capacity 1)
  CHECK(cache.size() == 1);
  CHECK(cache.get_if_repeated(a) != nullptr);  // a was captured before, so it counts as repeated
  cache.clear();
  CHECK(cache.get_if_repeated(a) == nullptr);
}

TEST_CASE("UploadStage<cpu>: the host buffer is the device tensor, never reused", "[nn][captured]") {
  UploadStage<float, cpu> stage;
  float* h = stage.host(Shape{2, 3});
  for (int i = 0; i < 6; ++i) h[i] = float(i);
  stage.upload();
  const auto t = stage.device();
  stage.done_reading();
  REQUIRE(t.shape() == Shape{2, 3});
  REQUIRE(t.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
  float* h2 = stage.host(Shape{1, 2});
  h2[0] = 7;
  CHECK(t.data()[0] == 0.f);  // the tensor handed out before keeps its values
}
