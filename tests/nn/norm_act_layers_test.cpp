// Finite-difference gradient checks (double) of batch norm, PReLU, Sigmoid, L2Normalize, Dropout
// and the losses, plus parameter naming and freezing.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::gradcheck;
using rfcf::testing::random_tensor;
using TensorD = Tensor<double, cpu>;

namespace {

template <class BN>
void randomise(BN& bn, Generator& g) {
  if (bn.affine()) {
    init::uniform(bn.weight().value, g, 0.5, 1.5);
    init::uniform(bn.bias().value, g, -0.5, 0.5);
  }
  init::uniform(bn.running_mean(), g, -0.3, 0.3);
  init::uniform(bn.running_var(), g, 0.5, 2.0);
}

// Dropout with the same mask in every forward (reseeded), so finite differences see one function.
struct FixedMaskDropout : nn::Dropout<double, cpu> {
  using nn::Dropout<double, cpu>::Dropout;
  TensorD forward(const TensorD& x) {
    seed(42);
    return nn::Dropout<double, cpu>::forward(x);
  }
};

struct NameRecorder {
  std::vector<std::string> names;
  template <class P>
  void parameter(const std::string& n, P&) { names.push_back("p:" + n); }
  template <class B>
  void buffer(const std::string& n, B&) { names.push_back("b:" + n); }
  void counter(const std::string& n, int64_t& c) { names.push_back("c:" + n + "=" + std::to_string(c)); }
};

// Central differences of a scalar loss f over every element of x against the analytic gradient.
template <class F>
double loss_gradcheck(TensorD x, const TensorD& analytic, F&& f, double eps = 1e-6) {
  double diff = 0, scale = 1e-12;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double saved = x.data()[i];
    x.data()[i] = saved + eps;
    const double lp = f(x);
    x.data()[i] = saved - eps;
    const double lm = f(x);
    x.data()[i] = saved;
    const double numeric = (lp - lm) / (2 * eps);
    diff = std::max(diff, std::abs(numeric - analytic.data()[i]));
    scale = std::max(scale, std::abs(numeric));
  }
  return diff / scale;
}

}  // namespace

TEST_CASE("BatchNorm layers pass the gradient check", "[nn][gradcheck][batch_norm]") {
  Generator g(21);
  for (bool training : {true, false})
    for (bool affine : {true, false}) {
      INFO("training " << training << " affine " << affine);
      nn::BatchNorm2d<double, cpu> bn2(3, {1e-5, 0.1, affine});
      randomise(bn2, g);
      bn2.train(training);
      for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 3, 3, 2}}) {
        auto r = gradcheck(bn2, random_tensor(s, g));
        INFO("BatchNorm2d " << s.str() << " worst " << r.worst_param);
        CHECK(r.max_error() < 1e-6);
      }
      nn::BatchNorm1d<double, cpu> bn1(5, {1e-5, 0.1, affine});
      randomise(bn1, g);
      bn1.train(training);
      for (const Shape& s : {Shape{4, 5}, Shape{3, 5, 2}}) {
        auto r = gradcheck(bn1, random_tensor(s, g));
        INFO("BatchNorm1d " << s.str() << " worst " << r.worst_param);
        CHECK(r.max_error() < 1e-6);
      }
    }
}

TEST_CASE("BatchNorm names, counters and a frozen weight", "[nn][batch_norm]") {
  nn::BatchNorm2d<float, cpu> bn(4);
  NameRecorder rec;
  bn.visit(rec, "bn1");
  CHECK(rec.names == std::vector<std::string>{"p:bn1.weight", "p:bn1.bias", "b:bn1.running_mean",
                                              "b:bn1.running_var", "c:bn1.num_batches_tracked=0"});
  CHECK(bn.weight().value.to_vector() == std::vector<float>(4, 1.0f));
  CHECK(bn.running_var().to_vector() == std::vector<float>(4, 1.0f));

  nn::BatchNorm1d<float, cpu> plain(4, {1e-5, 0.1, false});
  NameRecorder rec2;
  plain.visit(rec2, "output_layer.4");
  CHECK(rec2.names == std::vector<std::string>{"b:output_layer.4.running_mean", "b:output_layer.4.running_var",
                                               "c:output_layer.4.num_batches_tracked=0"});
  CHECK(nn::parameter_count(plain) == 0);
  CHECK_THROWS_AS(plain.freeze_weight(), ConfigError);

  // arcface_torch `features`: weight fixed at 1 and not trained; the bias still learns.
  Generator g(3);
  nn::BatchNorm1d<double, cpu> features(6);
  features.freeze_weight(1.0);
  CHECK(features.weight().frozen);
  TensorD x = random_tensor(Shape{4, 6}, g);
  features.forward(x);
  features.backward(random_tensor(Shape{4, 6}, g));
  for (double v : features.weight().grad.to_vector()) CHECK(v == 0.0);
  double bias_grad = 0;
  for (double v : features.bias().grad.to_vector()) bias_grad += std::abs(v);
  CHECK(bias_grad > 0);
  nn::BatchNorm1d<double, cpu> reference(6);
  reference.forward(x);
  CHECK(testing::relative_error(features.backward(TensorD(ones<double, cpu>(Shape{4, 6}))),
                                reference.backward(TensorD(ones<double, cpu>(Shape{4, 6})))) < 1e-12);

  nn::NoGradGuard guard;
  nn::BatchNorm2d<float, cpu> inference(2);
  inference.forward(Tensor<float, cpu>(Shape{2, 2, 2, 2}));
  CHECK_THROWS_AS(inference.backward(Tensor<float, cpu>(Shape{2, 2, 2, 2})), Error);
}

TEST_CASE("activations, L2Normalize and Dropout pass the gradient check", "[nn][gradcheck]") {
  Generator g(13);
  SECTION("PReLU per channel and shared") {
    nn::PReLU<double, cpu> prelu(3);
    init::uniform(prelu.weight().value, g, 0.0, 0.5);
    CHECK(gradcheck(prelu, random_tensor(Shape{2, 3, 4, 5}, g)).max_error() < 1e-6);
    CHECK(gradcheck(prelu, random_tensor(Shape{1, 3}, g)).max_error() < 1e-6);
    nn::PReLU<double, cpu> shared;
    CHECK(gradcheck(shared, random_tensor(Shape{2, 3, 4}, g)).max_error() < 1e-6);
    NameRecorder rec;
    prelu.visit(rec, "prelu");
    CHECK(rec.names == std::vector<std::string>{"p:prelu.weight"});
    // Values as PyTorch's prelu, and a NaN input stays NaN (a NaN loss must stay visible).
    nn::PReLU<float, cpu> f(2, 0.25);
    const auto y = f.forward(Tensor<float, cpu>::from_host(Shape{1, 2, 2}, {2.0f, -4.0f, std::nanf(""), -0.0f}))
                       .to_vector();
    CHECK(y[0] == 2.0f);
    CHECK(y[1] == -1.0f);
    CHECK(std::isnan(y[2]));
    CHECK(y[3] == 0.0f);
  }
  SECTION("Sigmoid") {
    nn::Sigmoid<double, cpu> sig;
    CHECK(gradcheck(sig, random_tensor(Shape{2, 3, 4, 5}, g, -5, 5)).max_error() < 1e-6);
  }
  SECTION("L2Normalize") {
    for (double eps : {0.0, 0.1}) {
      nn::L2Normalize<double, cpu> norm(eps);
      CHECK(gradcheck(norm, random_tensor(Shape{3, 7}, g)).max_error() < 1e-6);
      CHECK(gradcheck(norm, random_tensor(Shape{1, 512}, g)).max_error() < 1e-6);
    }
  }
  SECTION("Dropout with a fixed mask") {
    FixedMaskDropout drop(0.3, 5);
    CHECK(gradcheck(drop, random_tensor(Shape{4, 50}, g)).max_error() < 1e-6);
    drop.eval();
    CHECK(gradcheck(drop, random_tensor(Shape{4, 50}, g)).max_error() < 1e-6);
  }
  SECTION("an IResNet-style block: BN -> PReLU -> BN in a Sequential") {
    nn::Sequential block{nn::BatchNorm2d<double, cpu>(3), nn::PReLU<double, cpu>(3), nn::BatchNorm2d<double, cpu>(3)};
    randomise(block.get<0>(), g);
    randomise(block.get<2>(), g);
    CHECK(gradcheck(block, random_tensor(Shape{2, 3, 3, 3}, g)).max_error() < 1e-6);
  }
}

TEST_CASE("losses pass the gradient check", "[nn][gradcheck][loss]") {
  Generator g(17);
  SECTION("CrossEntropyLoss") {
    nn::CrossEntropyLoss<double, cpu> ce;
    const std::vector<int64_t> labels = {3, 0, 6, 6, 1};
    TensorD logits = random_tensor(Shape{5, 7}, g, -3, 3);
    ce.forward(logits, labels);
    TensorD d = ce.backward(2.5);
    CHECK(loss_gradcheck(logits, d, [&](const TensorD& x) { return 2.5 * ce.forward(x, labels); }) < 1e-6);
    TensorD one = random_tensor(Shape{1, 1}, g);
    CHECK(ce.forward(one, {0}) == Approx(0.0).margin(1e-15));
  }
  SECTION("SmoothL1Loss") {
    for (auto red : {nn::Reduction::sum, nn::Reduction::mean})
      for (double beta : {1.0, 0.3, 0.0}) {
        nn::SmoothL1Loss<double, cpu> loss(beta, red);
        TensorD pred = random_tensor(Shape{6, 4}, g, -2, 2), target = random_tensor(Shape{6, 4}, g, -2, 2);
        loss.forward(pred, target);
        TensorD d = loss.backward(0.7);
        INFO("beta " << beta);
        CHECK(loss_gradcheck(pred, d, [&](const TensorD& x) { return 0.7 * loss.forward(x, target); }) < 1e-6);
      }
  }
}
