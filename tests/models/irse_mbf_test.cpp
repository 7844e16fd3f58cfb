// IR-SE (CurricularFace layout) and arcface_torch "mbf" against the independent PyTorch models of
// benchmarks/python/recognition_torch.py: every state-dict key and shape, parameter counts, and
// eval outputs with the formula weights of tests/fixtures/recognition/make_irse_mbf_fixtures.py.
// Gradient checks of one unit of each in double.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "recognition/fixture_file.hpp"
#include "rfcf/models.hpp"
#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::gradcheck;
using rfcf::testing::random_tensor;

namespace {

const std::string kStem = std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/recognition/irse_mbf_fixtures";

const testing::FixtureFile& fixtures() {
  static const testing::FixtureFile f(kStem);
  return f;
}

const nlohmann::json& fixture_index() {
  static const nlohmann::json j = [] {
    std::ifstream in(kStem + ".json");
    check<IoError>(in.good(), "cannot open ", kStem, ".json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

// The generator's hash: exact integer arithmetic, so both sides get the same doubles.
double hash_uniform(int64_t i, int64_t k) {
  const uint64_t m = 0xFFFFFFFFull;
  uint64_t x = (static_cast<uint64_t>(k) * 2654435761ull + static_cast<uint64_t>(i + 1) * 97531ull) & m;
  x ^= x >> 16;
  x = (x * 2246822519ull) & m;
  x ^= x >> 13;
  return static_cast<double>(x) / 2147483648.0 - 1.0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Sets entry i of the state dict (counters numbered but left alone) by the generator's formula.
template <class T>
struct FormulaWeights {
  std::set<std::string> names;
  int64_t index = 0;

  template <class P>
  void parameter(const std::string& name, P& p) { set(name, p.value); }
  void buffer(const std::string& name, Tensor<T, cpu>& t) { set(name, t); }
  void counter(const std::string&, int64_t&) { ++index; }

  void set(const std::string& name, Tensor<T, cpu>& t) {
    const int64_t n = t.numel();
    const bool bn_weight =
        ends_with(name, ".weight") && names.count(name.substr(0, name.size() - 6) + "running_mean");
    for (int64_t k = 0; k < n; ++k) {
      const double u = hash_uniform(index, k);
      double v;
      if (t.rank() >= 2) v = u * std::sqrt(3.0 / static_cast<double>(n / t.dim(0)));
      else if (ends_with(name, "running_mean")) v = 0.1 * u;
      else if (ends_with(name, "running_var")) v = 1.0 + 0.1 * std::abs(u);
      else if (bn_weight) v = 1.0 + 0.25 * u;
      else if (ends_with(name, "weight")) v = 0.25 + 0.2 * u;
      else v = 0.1 * u;
      t.data()[k] = static_cast<T>(v);
    }
    ++index;
  }
};

template <class Model>
void set_formula_weights(Model& model) {
  FormulaWeights<typename Model::value_type> w;
  for (const auto& entry : nn::state_dict(model)) w.names.insert(entry.first);
  model.visit(w, "");
}

Tensor<float, cpu> formula_input() {
  Tensor<float, cpu> x(Shape{2, 3, 112, 112});
  for (int64_t k = 0; k < x.numel(); ++k) x.data()[k] = static_cast<float>(hash_uniform(100000, k));
  return x;
}

// Every key and shape of PyTorch's state_dict, in order.
template <class Model>
void require_same_keys(Model& model, const std::string& tag) {
  const auto& expected = fixture_index().at("keys").at(tag);
  const io::TensorMap sd = nn::state_dict(model);
  std::vector<std::string> names;
  for (const auto& entry : sd) names.push_back(entry.first);
  REQUIRE(names.size() == expected.size());
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(tag << " key " << i);
    REQUIRE(names[i] == expected[i][0].get<std::string>());
    REQUIRE(sd.at(names[i]).shape == expected[i][1].get<std::vector<int64_t>>());
  }
}

template <class Model>
void require_fixture_output(Model& model, const std::string& tag) {
  set_formula_weights(model);
  model.eval();
  nn::NoGradGuard no_grad;
  const Tensor<float, cpu> x = formula_input();
  double sum = 0;
  for (int64_t k = 0; k < x.numel(); ++k) sum += x.data()[k];
  REQUIRE(sum == Approx(fixtures().scalar("input_sum")).epsilon(1e-9));
  const Tensor<float, cpu> y = model.forward(x);
  const Tensor<float, cpu> expected = fixtures().tensor<float>(tag + "/output");
  REQUIRE(y.shape() == expected.shape());
  const double err = testing::relative_error(y, expected);
  INFO(tag << " relative error " << err);
  REQUIRE(err < 1e-4);
}

template <class L>
void require_gradcheck(L& layer, const Shape& input, double eps = 1e-5) {
  Generator g(3);
  auto x = random_tensor(input, g);
  auto r = gradcheck(layer, x, 7, eps);
  INFO("input error " << r.input_error << ", worst parameter " << r.worst_param << " " << r.param_error);
  REQUIRE(r.max_error() < 1e-6);
}

}  // namespace

TEST_CASE("IR-SE-50 matches the CurricularFace layout and PyTorch outputs", "[models][fixture]") {
  models::IRNet<float, cpu> net(models::IRNetOptions{.depth = 50, .se = true});
  REQUIRE(nn::parameter_count(net) == static_cast<int64_t>(fixtures().scalar("params/ir_se_50")));
  REQUIRE(nn::parameter_count(net) == 43796672);
  require_same_keys(net, "ir_se_50");
  require_fixture_output(net, "ir_se_50");
}

TEST_CASE("IR-50 (no SE) has PyTorch's parameter count", "[models]") {
  models::IRNet<float, cpu> net(models::IRNetOptions{.depth = 50, .se = false});
  REQUIRE(nn::parameter_count(net) == static_cast<int64_t>(fixtures().scalar("params/ir_50")));
  REQUIRE(nn::parameter_count(net) == 43573952);
  const io::TensorMap sd = nn::state_dict(net);
  REQUIRE_FALSE(sd.contains("body.0.shortcut_layer.0.weight"));  // 64 -> 64, stride 2: a pool, no weights
  REQUIRE(sd.at("body.3.shortcut_layer.0.weight").shape == std::vector<int64_t>{128, 64, 1, 1});
  REQUIRE(sd.contains("output_layer.4.running_var"));
  REQUIRE_FALSE(sd.contains("output_layer.4.weight"));  // BatchNorm1d(affine = False)
  REQUIRE_FALSE(sd.contains("body.0.res_layer.5.fc1.weight"));
}

TEST_CASE("arcface_torch mbf matches its layout and PyTorch outputs", "[models][fixture]") {
  models::MobileFaceNetInsightface<float, cpu> net;
  REQUIRE(nn::parameter_count(net) == static_cast<int64_t>(fixtures().scalar("params/mbf")));
  REQUIRE(nn::parameter_count(net) == 2059520);
  require_same_keys(net, "mbf");
  REQUIRE(nn::state_dict(net).at("layers.1.layers.0.weight").shape == std::vector<int64_t>{128, 2, 3, 3});
  require_fixture_output(net, "mbf");
}

TEST_CASE("IR-SE and mbf reject bad options and inputs", "[models]") {
  const models::IRNetOptions depth34{.depth = 34};
  REQUIRE_THROWS_AS((models::IRNet<float, cpu>(depth34)), ConfigError);
  const models::MobileFaceNetInsightfaceOptions large{.blocks = {2, 8, 12, 4}, .scale = 4};
  REQUIRE_THROWS_AS((models::MobileFaceNetInsightface<float, cpu>(large)), ConfigError);
  models::MobileFaceNetInsightface<float, cpu> mbf;
  const auto wrong_size = zeros<float, cpu>(Shape{1, 3, 112, 96});
  REQUIRE_THROWS_AS(mbf.forward(wrong_size), ShapeError);
}

// This check failed (first 1x1 weight gradient off by 4.6e-2) while Executor<cpu>::for_each carried
// `#pragma omp simd`; without the pragma it passes with 1, 2 and 4 threads.
TEST_CASE("IR-SE unit and mbf DepthWise unit pass the gradient check", "[models][gradcheck]") {
  SECTION("IR-SE unit, conv shortcut") {
    models::IRUnit<double, cpu> u(16, 32, 2, true);
    require_gradcheck(u, Shape{2, 16, 6, 5});
  }
  SECTION("IR-SE unit, MaxPool2d(1, 2) shortcut") {
    models::IRUnit<double, cpu> u(32, 32, 2, true);
    require_gradcheck(u, Shape{2, 32, 5, 6});
  }
  // As for the CASIA bottleneck (blocks_test.cpp): BN weight gradients of the expansion are small
  // against an O(100) loss, so a step of 1e-4 keeps the loss rounding below the tolerance.
  SECTION("mbf DepthWise unit, residual") {
    models::MbfDepthWise<double, cpu> u(8, 8, 16, 1, true);
    require_gradcheck(u, Shape{2, 8, 5, 6}, 1e-4);
  }
  SECTION("mbf DepthWise unit, stride 2") {
    models::MbfDepthWise<double, cpu> u(8, 12, 16, 2, false);
    require_gradcheck(u, Shape{2, 8, 6, 5}, 1e-4);
  }
}

namespace {
// Whole-model backward: analytic gradients of a few named parameter entries against central
// differences of loss = sum(r * forward(x)), in double and eval mode (BN with running statistics).
template <class Model>
void require_model_gradients(Model& net, const Shape& input, const std::vector<std::pair<std::string, int64_t>>& probes) {
  Generator g(5);
  const auto x = random_tensor(input, g);
  net.eval();
  nn::zero_grad(net);
  const auto r = random_tensor(net.forward(x).shape(), g);
  net.backward(r);
  for (const auto& probe : probes) {
    const std::string name = probe.first;
    const int64_t index = probe.second;
    bool found = false;
    nn::for_each_parameter(net, [&](const std::string& n, nn::Parameter<double, cpu>& p) {
      if (n != name) return;
      found = true;
      const double analytic = p.grad.data()[index];
      const double saved = p.value.data()[index], eps = 1e-5;
      p.value.data()[index] = saved + eps;
      const double lp = testing::dot(r, net.forward(x));
      p.value.data()[index] = saved - eps;
      const double lm = testing::dot(r, net.forward(x));
      p.value.data()[index] = saved;
      const double numeric = (lp - lm) / (2 * eps);
      INFO(name << "[" << index << "]: analytic " << analytic << ", numeric " << numeric);
      REQUIRE(std::abs(analytic - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
      REQUIRE(numeric != 0.0);
    });
    INFO(name);
    REQUIRE(found);
  }
}
}  // namespace

TEST_CASE("IR-SE-50 and mbf backward agree with finite differences", "[models][gradcheck]") {
  SECTION("IR-SE-50 at 16x16") {
    models::IRNet<double, cpu> net(models::IRNetOptions{.depth = 50, .se = true, .dropout = 0.0, .input_h = 16,
                                                        .input_w = 16});
    require_model_gradients(net, Shape{2, 3, 16, 16},
                            {{"input_layer.0.weight", 5}, {"body.10.res_layer.5.fc1.weight", 3},
                             {"body.3.shortcut_layer.1.weight", 7}, {"output_layer.3.bias", 1}});
  }
  SECTION("mbf at 32x32") {
    models::MobileFaceNetInsightface<double, cpu> net(
        models::MobileFaceNetInsightfaceOptions{.input_h = 32, .input_w = 32});
    require_model_gradients(net, Shape{2, 3, 32, 32},
                            {{"layers.0.layers.2.weight", 4}, {"layers.3.layers.1.layers.1.layers.1.weight", 9},
                             {"features.layers.0.layers.0.weight", 11}, {"features.layers.3.bias", 2}});
  }
}
