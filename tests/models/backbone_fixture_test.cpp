// IResNet-50 and MobileFaceNet against PyTorch (tests/fixtures/recognition/make_backbone_fixtures.py):
// the same deterministic weights set by formula through the visit API, forward in eval and train
// mode, backward of sum(r * emb). The reference is float64 (train-mode BN over a batch of two is
// ill-conditioned in float32): float32 eval output within 1e-4 relative, float64 everything within 1e-5 (measured: outputs
// 1e-8..1e-7, gradients <= 7e-7; BN over two samples amplifies rounding by ~1e8).
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <string>

#include "recognition/fixture_file.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/models/iresnet.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/nn/state_dict.hpp"

using namespace rfcf;

namespace {

const testing::FixtureFile& fixtures() {
  static const testing::FixtureFile f(std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/recognition/backbone_fixtures");
  return f;
}

double tag(const std::string& name) {
  int64_t s = 0;
  for (unsigned char c : name) s += c;
  return static_cast<double>(s % 1000) / 1000.0 * 6.283;
}

std::string parent(const std::string& name) { return name.substr(0, name.rfind('.')); }
std::string leaf(const std::string& name) { return name.substr(name.rfind('.') + 1); }

// The generator's formula; a 1-D weight/bias belongs to a BatchNorm iff its module has running stats.
template <class T>
void fill_by_formula(const std::string& name, Tensor<T, cpu>& t, const std::set<std::string>& bn_modules) {
  const double b = tag(name);
  const std::string l = leaf(name);
  const bool bn = bn_modules.count(parent(name)) > 0;
  const bool prelu = !bn && l == "weight" && t.rank() == 1;
  for (int64_t k = 0; k < t.numel(); ++k) {
    const double kk = static_cast<double>(k);
    double v;
    if (name == "features.weight") v = 1;
    else if (l == "running_mean") v = 0.1 * std::sin(0.3 * kk + b);
    else if (l == "running_var") v = 1 + 0.5 * std::pow(std::sin(0.6 * kk + b), 2);
    else if (prelu) v = 0.25 + 0.1 * std::sin(0.5 * kk + b);
    else if (bn && l == "weight") v = 1 + 0.2 * std::sin(0.9 * kk + b);
    else if (bn && l == "bias") v = 0.1 * std::sin(1.3 * kk + b);
    else if (l == "bias") v = 0.05 * std::sin(1.1 * kk + b);
    else v = std::sin(0.7 * kk + b) / std::sqrt(static_cast<double>(t.numel() / t.dim(0)));
    t.data()[k] = static_cast<T>(v);
  }
}

template <class Model>
void set_weights(Model& m) {
  using T = typename Model::value_type;
  std::set<std::string> bn_modules;
  for (const auto& [name, t] : nn::state_dict(m))
    if (leaf(name) == "running_mean") bn_modules.insert(parent(name));
  nn::for_each_parameter(m, [&](const std::string& name, nn::Parameter<T, cpu>& p) { fill_by_formula(name, p.value, bn_modules); });
  nn::for_each_buffer(m, [&](const std::string& name, Tensor<T, cpu>& t) { fill_by_formula(name, t, bn_modules); });
}

// max |a - b| / max |b|
template <class T>
double rel_error(const Tensor<T, cpu>& a, const Tensor<double, cpu>& b) {
  REQUIRE(a.numel() == b.numel());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    num = std::max(num, std::abs(double(a.data()[i]) - b.data()[i]));
    den = std::max(den, std::abs(b.data()[i]));
  }
  return num / std::max(den, 1e-30);
}

template <class Model>
void compare(Model& m, int64_t h, int64_t w, const std::string& prefix, const std::vector<std::string>& grads,
             const std::vector<std::string>& big, bool eval_only, double tol) {
  using T = typename Model::value_type;
  const auto& fx = fixtures();
  set_weights(m);
  Tensor<T, cpu> x(Shape{2, 3, h, w});
  for (int64_t k = 0; k < x.numel(); ++k) x.data()[k] = static_cast<T>(std::sin(0.05 * double(k)));
  m.train(false);
  {
    nn::NoGradGuard ng;
    const double e = rel_error(m.forward(x), fx.tensor<double>(prefix + "eval_out"));
    INFO(prefix << " eval output rel. error " << e);
    CHECK(e < tol);
  }
  if (eval_only) return;
  m.train(true);
  Tensor<T, cpu> y = m.forward(x);
  const double e = rel_error(y, fx.tensor<double>(prefix + "train_out"));
  INFO(prefix << " train output rel. error " << e);
  CHECK(e < tol);
  Tensor<T, cpu> r(y.shape());
  for (int64_t k = 0; k < r.numel(); ++k) r.data()[k] = static_cast<T>(std::cos(0.37 * double(k)));
  nn::zero_grad(m);
  m.backward(r);
  std::set<std::string> seen;
  nn::for_each_parameter(m, [&](const std::string& name, nn::Parameter<T, cpu>& p) {
    if (std::find(grads.begin(), grads.end(), name) != grads.end()) {
      seen.insert(name);
      const double ge = rel_error(p.grad, fx.tensor<double>(prefix + "grad." + name));
      INFO(name << " gradient rel. error " << ge);
      CHECK(ge < tol);
    }
    if (std::find(big.begin(), big.end(), name) != big.end()) {
      seen.insert(name);
      double s = 0, ss = 0;
      for (int64_t i = 0; i < p.grad.numel(); ++i) s += p.grad.data()[i], ss += double(p.grad.data()[i]) * p.grad.data()[i];
      const double norm = fx.scalar(prefix + "gradnorm." + name);
      INFO(name << " gradient norm " << std::sqrt(ss) << " vs " << norm << ", sum " << s);
      CHECK(std::sqrt(ss) == Approx(norm).epsilon(tol));
      // a sum cancels: compare it on the scale of the norm times sqrt(numel)
      CHECK(std::abs(s - fx.scalar(prefix + "gradsum." + name)) < tol * norm * std::sqrt(double(p.grad.numel())));
    }
  });
  CHECK(seen.size() == grads.size() + big.size());
  // running statistics after one train-mode forward (momentum 0.1)
  bool found = false;
  nn::for_each_buffer(m, [&](const std::string& name, Tensor<T, cpu>& t) {
    if (leaf(name) != "running_mean") return;
    try {
      const auto ref = fx.tensor<double>(prefix + "running_mean." + name);
      found = true;
      CHECK(rel_error(t, ref) < tol);
    } catch (const FormatError&) {
    }
  });
  CHECK(found);
}

}  // namespace

TEST_CASE("IResNet-50 matches PyTorch: eval/train forward, gradients, running stats", "[models][fixtures][iresnet]") {
  const std::vector<std::string> grads{"features.bias", "prelu.weight", "layer4.2.bn3.weight", "layer1.0.prelu.weight", "bn1.bias"};
  const std::vector<std::string> big{"conv1.weight", "fc.weight", "layer3.13.conv2.weight", "layer1.0.downsample.0.weight"};
  models::IResNet<float, cpu> mf(models::IResNetOptions{.depth = 50});
  compare(mf, 112, 112, "iresnet50.", grads, big, true, 1e-4);
  models::IResNet<double, cpu> md(models::IResNetOptions{.depth = 50});
  compare(md, 112, 112, "iresnet50.", grads, big, false, 1e-5);
}

TEST_CASE("MobileFaceNet matches PyTorch: eval/train forward, gradients, running stats", "[models][fixtures][mobilefacenet]") {
  const std::vector<std::string> grads{"linear1.bn.bias", "conv1.conv.weight", "linear7.conv.weight", "blocks.14.conv.5.weight", "dw_conv1.prelu.weight"};
  const std::vector<std::string> big{"conv2.conv.weight", "blocks.5.conv.0.weight", "linear1.conv.weight"};
  models::MobileFaceNet<float, cpu> mf;
  compare(mf, 112, 96, "mobilefacenet.", grads, big, true, 1e-4);
  models::MobileFaceNet<double, cpu> md;
  compare(md, 112, 96, "mobilefacenet.", grads, big, false, 1e-5);
}

// Batch norms folded into the convolutions (eval-mode inference path of the benchmarks and programs).
TEST_CASE("IResNet-50 and MobileFaceNet fused for inference still match PyTorch", "[models][fixtures][fuse]") {
  models::IResNet<float, cpu> ir(models::IResNetOptions{.depth = 50});
  set_weights(ir);
  ir.fuse_for_inference();
  compare(ir, 112, 112, "iresnet50.", {}, {}, true, 1e-4);
  CHECK_THROWS_AS(ir.train(true), ConfigError);  // fused layers refuse to train
  models::MobileFaceNet<float, cpu> mf;
  set_weights(mf);
  mf.fuse_for_inference();
  compare(mf, 112, 96, "mobilefacenet.", {}, {}, true, 1e-4);
}
