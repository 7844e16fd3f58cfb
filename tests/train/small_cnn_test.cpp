// Acceptance test of the core engine: a small CNN built from rfcf layers trains exactly like
// the same network in PyTorch (tests/fixtures/train/make_small_cnn_fixture.py): forward
// logits and loss, every parameter gradient, and weights + BN running statistics after 10
// SGD-momentum steps with weight decay.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rfcf/core.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/nn.hpp"
#include "rfcf/train/sgd.hpp"
#include "support/gradcheck.hpp"
#include "train/fixture_io.hpp"

using namespace rfcf;
using rfcf::testing::BinFixture;
using rfcf::testing::relative_error;

namespace {

template <class T>
auto conv_bn(int64_t in, int64_t out, nn::Conv2dOptions o) {
  return std::make_pair(nn::Conv2d<T, cpu>(in, out, o), nn::BatchNorm2d<T, cpu>(out));
}

// Same structure and parameter names as the PyTorch reference.
template <class T>
auto small_cnn() {
  using D = cpu;
  const auto k3 = nn::Conv2dOptions::k(3).padded(1);
  auto [c0, b0] = conv_bn<T>(3, 8, k3.strided(2));
  auto [c1, b1] = conv_bn<T>(8, 8, k3.grouped(8));
  auto [c2, b2] = conv_bn<T>(8, 8, k3);
  auto [c3, b3] = conv_bn<T>(8, 8, k3);
  return nn::Sequential{
      nn::Sequential{c0, b0, nn::LeakyReLU<T, D>(0.1)},
      nn::Sequential{c1, b1, nn::LeakyReLU<T, D>(0.1)},
      nn::Residual{nn::Sequential{c2, b2, nn::ReLU<T, D>(), c3, b3}},
      nn::Concat{nn::Conv2d<T, D>(8, 4, nn::Conv2dOptions::k(1)),
                 nn::Conv2d<T, D>(8, 6, nn::Conv2dOptions::k(1).with_bias())},
      nn::GlobalAvgPool2d<T, D>(),
      nn::Flatten<T, D>(),
      nn::Linear<T, D>(10, 5)}
      .named({"stem", "dw", "res", "branches", "pool", "flatten", "fc"});
}

template <class T>
void check_tensor(const BinFixture& fx, const std::string& key, const Tensor<T, cpu>& got, double tol) {
  auto expect = fx.values<double>(key);
  REQUIRE(fx.shape(key) == got.shape());
  auto g = got.to_vector();
  std::vector<double> gd(g.begin(), g.end());
  INFO(key);
  CHECK(relative_error(gd.data(), expect.data(), got.numel()) < tol);
}

// Compares every counter (num_batches_tracked) with the fixture.
struct CounterCheck {
  const BinFixture* fx;
  template <class P>
  void parameter(const std::string&, P&) {}
  template <class B>
  void buffer(const std::string&, B&) {}
  void counter(const std::string& name, int64_t& c) {
    INFO(name);
    CHECK(c == fx->values<int64_t>("final." + name)[0]);
  }
};

template <class T>
void run_small_cnn(double first_tol, double final_tol) {
  const BinFixture fx(rfcf::testing::train_fixture("small_cnn"));
  auto model = small_cnn<T>();
  // Weights by name from the PyTorch state dict.
  int loaded = 0;
  nn::for_each_parameter(model, [&](const std::string& name, nn::Parameter<T, cpu>& p) {
    p.value.copy_from(fx.tensor<T>("init." + name));
    ++loaded;
  });
  nn::for_each_buffer(model, [&](const std::string& name, Tensor<T, cpu>& b) {
    b.copy_from(fx.tensor<T>("init." + name));
    ++loaded;
  });
  REQUIRE(loaded == 17 + 8);  // 17 parameters, running mean + var of 4 BN layers
  nn::FlatParameters<T, cpu> flat(model);
  train::SGD<T, cpu> opt(flat, {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
  nn::CrossEntropyLoss<T, cpu> ce;
  const auto x = fx.tensor<T>("input");
  const auto labels = fx.values<int64_t>("labels");
  const auto losses = fx.values<double>("losses");
  model.train();
  for (int step = 0; step < 10; ++step) {
    opt.zero_grad();
    auto logits = model.forward(x);
    const T loss = ce.forward(logits, labels);
    model.backward(ce.backward());
    INFO("step " << step);
    CHECK(static_cast<double>(loss) == Approx(losses[static_cast<size_t>(step)]).epsilon(final_tol));
    if (step == 0) {
      check_tensor(fx, "logits", logits, first_tol);
      CHECK(static_cast<double>(loss) == Approx(fx.values<double>("loss")[0]).epsilon(first_tol));
      nn::for_each_parameter(model, [&](const std::string& name, nn::Parameter<T, cpu>& p) {
        check_tensor(fx, "grad." + name, p.grad, first_tol);
      });
    }
    opt.step();
  }
  nn::for_each_parameter(model, [&](const std::string& name, nn::Parameter<T, cpu>& p) {
    check_tensor(fx, "final." + name, p.value, final_tol);
  });
  nn::for_each_buffer(model, [&](const std::string& name, Tensor<T, cpu>& b) {
    check_tensor(fx, "final." + name, b, final_tol);
  });
  CounterCheck counters{&fx};
  model.visit(counters, "");
}

}  // namespace

TEST_CASE("small CNN trains like PyTorch (double)", "[train][small_cnn]") { run_small_cnn<double>(1e-9, 1e-7); }
TEST_CASE("small CNN trains like PyTorch (float)", "[train][small_cnn]") { run_small_cnn<float>(1e-4, 1e-4); }
