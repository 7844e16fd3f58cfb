// Gradient checks of the model building blocks (double precision, finite differences) and
// shape checks of the full networks.
#include <catch2/catch.hpp>

#include "rfcf/models.hpp"
#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::gradcheck;
using rfcf::testing::random_tensor;

namespace {
// BN in train mode makes the loss depend on the whole batch; that is what we want to check.
template <class L>
void require_gradcheck(L& layer, const Shape& input, double eps = 1e-5, double tol = 1e-6) {
  Generator g(3);
  auto x = random_tensor(input, g);
  auto r = gradcheck(layer, x, 7, eps);
  INFO("input error " << r.input_error << ", worst parameter " << r.worst_param << " " << r.param_error);
  REQUIRE(r.max_error() < tol);
}
}  // namespace

TEST_CASE("RetinaFace blocks pass the gradient check", "[models][gradcheck]") {
  SECTION("conv_dw") {
    auto b = models::conv_dw<double, cpu>(4, 6, 2, 0.1);
    require_gradcheck(b, Shape{2, 4, 7, 6});
  }
  SECTION("SSH") {
    models::SSH<double, cpu> ssh(8, 8, 0.1);
    require_gradcheck(ssh, Shape{2, 8, 5, 4});
  }
  SECTION("head") {
    models::HeadConv<double, cpu> head(8, 2, 10);
    require_gradcheck(head, Shape{2, 8, 3, 5});
  }
  SECTION("ResNet bottleneck with downsample") {
    models::Bottleneck<double, cpu> b(8, 4, 2);
    require_gradcheck(b, Shape{2, 8, 6, 5});
  }
}

TEST_CASE("recognition blocks pass the gradient check", "[models][gradcheck]") {
  SECTION("IBasicBlock with downsample") {
    models::IBasicBlock<double, cpu> b(4, 8, 2);
    require_gradcheck(b, Shape{2, 4, 6, 6});
  }
  SECTION("IBasicBlock identity") {
    models::IBasicBlock<double, cpu> b(6, 6, 1);
    require_gradcheck(b, Shape{2, 6, 5, 5});
  }
  SECTION("MobileFaceNet bottleneck (residual)") {
    // The expansion BN's weight gradients are ~1e-4 while the loss is O(100): a larger step
    // keeps rounding of the loss below the tolerance (checked: the error is 4e-8 at 1e-4).
    models::MobileFaceBottleneck<double, cpu> b(4, 4, 1, 2);
    require_gradcheck(b, Shape{2, 4, 5, 6}, 1e-4);
  }
  SECTION("squeeze-excitation") {
    nn::SqueezeExcitation<double, cpu> se(32, 16);
    require_gradcheck(se, Shape{2, 32, 3, 3});
  }
}

TEST_CASE("RetinaFace output sizes follow the anchor table", "[models]") {
  models::RetinaFace<models::MobileNetV1025, cpu> net;
  net.eval();
  nn::NoGradGuard no_grad;
  auto out = net.forward(zeros<float, cpu>(Shape{1, 3, 240, 320}));
  REQUIRE(out.loc.shape() == Shape{1, 3160, 4});
  REQUIRE(out.conf.shape() == Shape{1, 3160, 2});
  REQUIRE(out.landms.shape() == Shape{1, 3160, 10});
  int64_t params = 0;
  nn::for_each_parameter(net, [&](const std::string&, auto& p) { params += p.value.numel(); });
  REQUIRE(params == 426608);
}

TEST_CASE("recognition backbones have the published sizes", "[models]") {
  models::MobileFaceNet<float, cpu> mfn;
  int64_t n = 0;
  nn::for_each_parameter(mfn, [&](const std::string&, auto& p) { n += p.value.numel(); });
  REQUIRE(n == 999552);  // recognition.md 7.1: trainable values of the CASIA checkpoint
  mfn.eval();
  nn::NoGradGuard no_grad;
  REQUIRE(mfn.forward(zeros<float, cpu>(Shape{2, 3, 112, 96})).shape() == Shape{2, 128});
  models::IResNet<float, cpu> r50;
  int64_t m = 0;
  nn::for_each_parameter(r50, [&](const std::string&, auto& p) { m += p.value.numel(); });
  int64_t buffers = 0;
  nn::for_each_buffer(r50, [&](const std::string&, auto& b) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(b)>, int64_t>) buffers += b.numel();
  });
  REQUIRE(m == 43590848);  // equals PyTorch's parameter count of the same network
}
