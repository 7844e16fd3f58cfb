// train::SGD / train::AdamW, schedules and gradient clipping against PyTorch 1.13 values
// (tests/fixtures/train/make_optimizer_fixtures.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "rfcf/core.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/train/adamw.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/lr_schedule.hpp"
#include "rfcf/train/sgd.hpp"
#include "support/gradcheck.hpp"
#include "train/fixture_io.hpp"

using namespace rfcf;
using rfcf::testing::BinFixture;
using rfcf::testing::relative_error;

namespace {

const BinFixture& fixture() {
  static const BinFixture f(rfcf::testing::train_fixture("optimizers"));
  return f;
}

// Three parameters named p0, p1, p2 with the fixture's shapes and initial values.
template <class T>
struct ThreeParams {
  using value_type = T;
  using device_type = cpu;
  nn::Parameter<T, cpu> p[3];
  ThreeParams(std::vector<bool> decay, std::vector<bool> frozen) {
    for (int i = 0; i < 3; ++i) {
      const std::string key = "init.p" + std::to_string(i);
      p[i].value = fixture().tensor<T>(key);
      p[i].grad = zeros<T, cpu>(p[i].value.shape());
      p[i].weight_decay = decay[static_cast<size_t>(i)];
      p[i].frozen = frozen[static_cast<size_t>(i)];
    }
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    for (int i = 0; i < 3; ++i) v.parameter(nn::join_name(prefix, "p" + std::to_string(i)), p[i]);
  }
};

// Sets p_i.grad to the fixture gradient of step k (also for frozen parameters: they must ignore it).
template <class T>
void set_grads(ThreeParams<T>& m, int k) {
  for (int i = 0; i < 3; ++i) {
    auto all = fixture().values<T>("grads.p" + std::to_string(i));
    const int64_t n = m.p[i].value.numel();
    std::vector<T> g(all.begin() + k * n, all.begin() + (k + 1) * n);
    m.p[i].grad.copy_from(Tensor<T, cpu>::from_host(m.p[i].value.shape(), g));
  }
}

template <class T, class Opt, class Options>
void check_variant(const std::string& name, Options options, std::vector<bool> decay, std::vector<bool> frozen) {
  const std::string tag = std::is_same_v<T, double> ? "f64" : "f32";
  const double tol = std::is_same_v<T, double> ? 1e-6 : 1e-5;
  ThreeParams<T> model(decay, frozen);
  nn::FlatParameters<T, cpu> flat(model);
  Opt opt(flat, options);
  const auto init2 = model.p[2].value.to_vector();
  for (int k = 0; k < 10; ++k) {
    set_grads(model, k);
    opt.step();
    for (int i = 0; i < 3; ++i) {
      auto hist = fixture().values<T>(name + "." + tag + ".p" + std::to_string(i));
      const int64_t n = model.p[i].value.numel();
      auto got = model.p[i].value.to_vector();
      INFO(name << " " << tag << " step " << k << " p" << i);
      CHECK(relative_error(got.data(), hist.data() + k * n, n) < tol);
    }
  }
  if (frozen[2]) CHECK(model.p[2].value.to_vector() == init2);
  CHECK(opt.steps() == 10);
}

template <class T>
void check_all_optimizers() {
  const std::vector<bool> all{true, true, true}, none{false, false, false};
  const std::vector<bool> decay_flags{true, false, true}, frozen_flags{false, false, true};
  using S = train::SGD<T, cpu>;
  using A = train::AdamW<T, cpu>;
  check_variant<T, S>("sgd_plain", train::SGDOptions{.lr = 0.1}, all, none);
  check_variant<T, S>("sgd_momentum_wd", train::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4}, all, none);
  check_variant<T, S>("sgd_nesterov",
                      train::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true}, all, none);
  check_variant<T, S>("sgd_dampening",
                      train::SGDOptions{.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 1e-2}, all, none);
  check_variant<T, S>("sgd_flags", train::SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.05}, decay_flags,
                      frozen_flags);
  check_variant<T, A>("adamw", train::AdamWOptions{.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2},
                      all, none);
  check_variant<T, A>("adamw_flags",
                      train::AdamWOptions{.lr = 3e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1},
                      decay_flags, frozen_flags);
}

void check_lrs(const std::string& key, const train::LrSchedule& s) {
  auto expect = fixture().values<double>("lr." + key);
  for (size_t k = 0; k < expect.size(); ++k) {
    INFO(key << " step " << k << ": " << s.at(static_cast<int64_t>(k)) << " vs " << expect[k]);
    CHECK(std::abs(s.at(static_cast<int64_t>(k)) - expect[k]) <= 1e-9 * std::max(1e-3, std::abs(expect[k])));
  }
}

}  // namespace

TEST_CASE("SGD and AdamW match torch.optim in double", "[train][optimizer]") { check_all_optimizers<double>(); }
TEST_CASE("SGD and AdamW match torch.optim in float", "[train][optimizer]") { check_all_optimizers<float>(); }

TEST_CASE("optimizers reject invalid options", "[train][optimizer]") {
  ThreeParams<double> model({true, true, true}, {false, false, false});
  nn::FlatParameters<double, cpu> flat(model);
  CHECK_THROWS_AS((train::SGD<double, cpu>(flat, {.lr = -1})), ConfigError);
  CHECK_THROWS_AS((train::SGD<double, cpu>(flat, {.lr = 0.1, .nesterov = true})), ConfigError);
  CHECK_THROWS_AS((train::SGD<double, cpu>(flat, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true})),
                  ConfigError);
  CHECK_THROWS_AS((train::AdamW<double, cpu>(flat, {.beta1 = 1.0})), ConfigError);
  train::SGD<double, cpu> sgd(flat, {.lr = 0.1});
  CHECK_THROWS_AS(sgd.set_lr(-0.5), ConfigError);
}

TEST_CASE("optimizer state is exposed per parameter by name", "[train][optimizer]") {
  ThreeParams<double> model({true, true, true}, {false, false, false});
  nn::FlatParameters<double, cpu> flat(model);
  train::AdamW<double, cpu> adam(flat, {});
  std::vector<std::string> names;
  int64_t* step = nullptr;
  struct V {
    std::vector<std::string>* names;
    int64_t** step;
    void buffer(const std::string& n, Tensor<double, cpu>&) { names->push_back(n); }
    void counter(const std::string& n, int64_t& c) { names->push_back(n); *step = &c; }
  } v{&names, &step};
  adam.visit_state(v, "optimizer");
  REQUIRE(names.size() == 7);
  CHECK(names[0] == "optimizer.step");
  CHECK(names[1] == "optimizer.p0.exp_avg");
  CHECK(names[6] == "optimizer.p2.exp_avg_sq");
  set_grads(model, 0);
  adam.step();
  CHECK(*step == 1);
}

TEST_CASE("learning-rate schedules match torch.optim.lr_scheduler", "[train][schedule]") {
  check_lrs("multistep", train::MultiStepLr(0.1, {3, 7}, 0.1));
  check_lrs("cosine", train::CosineLr(0.1, 20, 1e-3));
  check_lrs("warmup_constant", train::WarmupLr(train::share(train::ConstantLr(0.1)), 5, 0.25));
  check_lrs("warmup_multistep", train::WarmupLr(train::share(train::MultiStepLr(0.1, {3, 7}, 0.5)), 5, 0.25));
  check_lrs("poly1", train::PolyLr(0.1, 15, 1.0));
  check_lrs("poly2", train::PolyLr(0.1, 15, 2.0));
  // After T_max the cosine stays at eta_min.
  CHECK(train::CosineLr(0.1, 20, 1e-3).at(35) == 1e-3);
  // arcface_torch warm-up: linear ramp from 0, then decay from the full rate.
  train::PolyLr warm(0.1, 110, 2.0, 10);
  CHECK(warm.at(0) == 0.0);
  CHECK(warm.at(5) == Approx(0.05));
  CHECK(warm.at(10) == Approx(0.1));
  CHECK(warm.at(60) == Approx(0.1 * 0.25));
  CHECK(warm.at(500) == 0.0);
  // RetinaFace mnet recipe (spec 8.1): decay at epochs 190 and 220 of 403 iterations.
  auto retina = train::MultiStepLr::from_epochs(1e-3, {190, 220}, 403);
  CHECK(retina.at(76569) == 1e-3);
  CHECK(retina.at(76570) == Approx(1e-4));
  CHECK(retina.at(88660) == Approx(1e-5));
  CHECK_THROWS_AS(train::MultiStepLr(0.1, {5, 3}), ConfigError);
  CHECK_THROWS_AS(train::PolyLr(0.1, 10, 1.0, 10), ConfigError);
}

TEST_CASE("clip_grad_norm matches torch.nn.utils.clip_grad_norm_", "[train][clip]") {
  for (const std::string tag : {"clip", "noclip"}) {
    ThreeParams<double> model({true, true, true}, {false, false, true});
    nn::FlatParameters<double, cpu> flat(model);
    set_grads(model, 0);
    const auto frozen_grad = model.p[2].grad.to_vector();
    const double max_norm = tag == "clip" ? 1.0 : 100.0;
    const double norm = train::clip_grad_norm(flat, max_norm);
    INFO(tag);
    CHECK(norm == Approx(fixture().values<double>(tag + ".norm")[0]).epsilon(1e-12));
    for (int i = 0; i < 2; ++i) {
      auto expect = fixture().values<double>(tag + ".grad.p" + std::to_string(i));
      auto got = model.p[i].grad.to_vector();
      CHECK(relative_error(got.data(), expect.data(), static_cast<int64_t>(got.size())) < 1e-12);
    }
    CHECK(model.p[2].grad.to_vector() == frozen_grad);  // frozen: neither counted nor scaled
  }
  ThreeParams<double> model({true, true, true}, {false, false, false});
  nn::FlatParameters<double, cpu> flat(model);
  CHECK_THROWS_AS(train::clip_grad_norm(flat, 0.0), ConfigError);
}

TEST_CASE("gradient accumulation averages micro-batch gradients", "[train][accumulate]") {
  ThreeParams<double> model({true, true, true}, {false, false, false});
  nn::FlatParameters<double, cpu> flat(model);
  train::GradAccumulator<double, cpu> acc(flat);
  set_grads(model, 3);  // stale gradients that begin() must clear
  acc.begin();
  std::vector<double> sum(static_cast<size_t>(flat.numel()), 0.0);
  for (int k = 0; k < 3; ++k) {
    // Simulate a backward pass that accumulates into the gradients.
    ThreeParams<double> tmp({true, true, true}, {false, false, false});
    nn::FlatParameters<double, cpu> tmp_flat(tmp);
    set_grads(tmp, k);
    ops::accumulate(flat.grads(), tmp_flat.grads());
    auto g = tmp_flat.grads().to_vector();
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += g[i] / 3.0;
    acc.add(4);
  }
  acc.finish();
  CHECK(acc.micro_batches() == 3);
  CHECK(acc.samples() == 12);
  auto got = flat.grads().to_vector();
  CHECK(relative_error(got.data(), sum.data(), static_cast<int64_t>(sum.size())) < 1e-15);
  train::GradAccumulator<double, cpu> weighted(flat, 10);
  CHECK(weighted.loss_weight(4) == Approx(0.4));
  CHECK_THROWS_AS(weighted.finish(), Error);
}
