// RetinaFace-MobileNet0.25 training steps against PyTorch (tests/fixtures/detection_train/
// make_step_fixture.py): one fixed batch of two real 96x96 WIDER crops, MultiBoxLoss, SGD (lr 1e-3,
// momentum 0.9, wd 5e-4), five steps, in float32 and in float64 (each against the PyTorch run of the
// same precision). Checks the loss parts and counts of every step, the hard negatives of every step
// (exactly), the step-1 gradient of every parameter (float32) and every parameter and BatchNorm
// buffer after five steps. Plus: resuming from a train::Checkpoint equals training straight through.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/models.hpp"
#include "rfcf/nn.hpp"
#include "rfcf/train.hpp"
#include "train/fixture_io.hpp"

using namespace rfcf;
using rfcf::testing::Fixture;
using Net = models::RetinaFace<models::MobileNetV1025, cpu>;

namespace {

const std::string kShared = RFCF_SHARED_DIR;
const std::string kWeights = kShared + "/models/retinaface_mnet025.pth";

std::string step_fixture() {
  return std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/detection_train/step_fixture.safetensors";
}

// Collects parameter values/grads and buffers of a model by name (visitor protocol).
template <class T>
struct CollectorT {
  std::map<std::string, Tensor<T, cpu>> values, grads, buffers;
  template <class P>
  void parameter(const std::string& name, P& p) {
    values[name] = p.value;
    grads[name] = p.grad;
  }
  template <class B>
  void buffer(const std::string& name, B& b) { buffers[name] = b; }
  void counter(const std::string&, int64_t&) {}
};

using Collector = CollectorT<float>;

template <class M>
CollectorT<typename M::value_type> collect(M& m) {
  CollectorT<typename M::value_type> c;
  m.visit(c, "");
  return c;
}

template <class T>
std::vector<double> as_double(const Tensor<T, cpu>& t) {
  const std::vector<T> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// The fixture's input: resized BGR uint8 crops [B, H, W, 3] -> float [B, 3, H, W] minus (104, 117, 123).
template <class T>
Tensor<T, cpu> fixture_input(const Fixture& fx) {
  const Shape s = fx.shape("input_u8");
  const int64_t B = s[0], H = s[1], W = s[2];
  const std::vector<double> px = fx.values<double>("input_u8");
  const double mean[3] = {104, 117, 123};
  std::vector<T> x(static_cast<size_t>(B * 3 * H * W));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < H * W; ++i)
      for (int64_t c = 0; c < 3; ++c) x[((b * 3 + c) * H * W) + i] = static_cast<T>(px[(b * H * W + i) * 3 + c] - mean[c]);
  return Tensor<T, cpu>::from_host(Shape{B, 3, H, W}, x);
}

// A tensor the generator stored either in full (`prefix.name`) or, when large, as
// `prefix_stats.name` = [sum, sum of squares, max |x|] plus every 149th value in `prefix_sample.name`.
// Returns max |got - want| over what is stored and the largest |want| (stats: from max |x|); sums
// count as max-like errors through sum / n and sqrt(sum of squares / n) comparisons.
struct Diff {
  double err = 0, scale = 0;
};
constexpr size_t kSampleStride = 149;
Diff diff_stored(const Fixture& fx, const std::string& prefix, const std::string& name, const std::vector<double>& got) {
  Diff d;
  if (fx.has(prefix + "." + name)) {
    const std::vector<double> want = fx.values<double>(prefix + "." + name);
    REQUIRE(want.size() == got.size());
    for (size_t i = 0; i < got.size(); ++i) d.err = std::max(d.err, std::abs(got[i] - want[i]));
    d.scale = max_abs(want);
    return d;
  }
  const std::vector<double> stats = fx.values<double>(prefix + "_stats." + name);
  const std::vector<double> sample = fx.values<double>(prefix + "_sample." + name);
  REQUIRE(sample.size() == (got.size() + kSampleStride - 1) / kSampleStride);
  for (size_t i = 0, k = 0; i < got.size(); i += kSampleStride, ++k) d.err = std::max(d.err, std::abs(got[i] - sample[k]));
  double s = 0, sq = 0;
  for (double x : got) s += x, sq += x * x;
  const double n = static_cast<double>(got.size());
  d.err = std::max({d.err, std::abs(max_abs(got) - stats[2]), std::abs(s - stats[0]) / n,
                    std::abs(std::sqrt(sq / n) - std::sqrt(stats[1] / n))});
  d.scale = stats[2];
  return d;
}

// float32 and float64 each against the PyTorch run of the same precision. The bounds: loss parts
// rel 1e-4 / 1e-6; step-1 gradients rel 1e-4 of the tensor's max |g|; weights after five steps rel
// 1e-4 / 1e-6 of the tensor's max |w| (issue 5 acceptance); the update w5 - w0 rel 1e-2 / 1e-6 of
// its max (float32: PyTorch's own float32 run is 1.3e-6 of |w| from its float64 run, i.e. up to
// ~1e-3 of the small updates of some tensors).
template <class T>
void run_steps() {
  constexpr bool f64 = std::is_same_v<T, double>;
  const Fixture fx(step_fixture());
  models::RetinaFace<models::MobileNetV1025, cpu, T> net;
  nn::load_pytorch(net, kWeights);
  const auto initial = collect(net);
  std::map<std::string, std::vector<double>> w0;
  for (const auto& [name, t] : initial.values) w0[name] = as_double(t.clone());
  for (const auto& [name, t] : initial.buffers) w0[name] = as_double(t.clone());
  net.train();
  nn::FlatParameters<T, cpu> params(net);
  train::SGD<T, cpu> sgd(params, train::SGDOptions{1e-3, 0.9, 0.0, 5e-4, false});
  detection::MultiBoxLoss<T, cpu> criterion;
  detection::PriorCache prior_cache(detection::PriorBoxOptions::official());
  const Tensor<float, cpu> priors = prior_cache.get(96, 96);

  const Tensor<T, cpu> input = fixture_input<T>(fx);
  REQUIRE(input.shape() == Shape{2, 3, 96, 96});
  const std::vector<std::vector<float>> targets{fx.values<float>("targets_0"), fx.values<float>("targets_1")};
  const std::vector<double> losses = fx.values<double>(f64 ? "losses_f64" : "losses");
  const std::vector<int64_t> counts = fx.values<int64_t>("counts");
  const std::vector<int64_t> neg_mask = fx.values<int64_t>("neg_mask");  // [5, 2, A], same for both runs
  const int64_t A = priors.dim(0);
  REQUIRE(fx.shape("neg_mask") == Shape{5, 2, A});

  double worst_loss = 0, worst_grad = 0;
  for (int step = 0; step < 5; ++step) {
    sgd.zero_grad();
    const auto pred = net.forward(input);
    const auto parts = criterion.forward(pred, targets, priors);
    net.backward(criterion.backward());
    const double got[4] = {parts.loc, parts.conf, parts.landm, parts.total};
    for (int k = 0; k < 4; ++k) {
      const double want = losses[step * 4 + k];
      const double rel = std::abs(got[k] - want) / std::abs(want);
      worst_loss = std::max(worst_loss, rel);
      INFO("step " << step + 1 << " loss part " << k << ": " << got[k] << " vs " << want);
      CHECK(rel < (f64 ? 1e-6 : 1e-4));
    }
    CHECK(parts.num_pos == counts[step * 3]);
    CHECK(parts.num_pos_landm == counts[step * 3 + 1]);
    CHECK(parts.num_neg == counts[step * 3 + 2]);
    // Hard negatives of every step, exactly.
    for (int64_t b = 0; b < 2; ++b) {
      std::vector<int64_t> want;
      for (int64_t p = 0; p < A; ++p)
        if (neg_mask[(step * 2 + b) * A + p]) want.push_back(p);
      INFO("step " << step + 1 << " image " << b);
      CHECK(criterion.negatives()[b] == want);
    }

    if (step == 0 && !f64) {
      const auto c = collect(net);
      int64_t checked = 0;
      for (const auto& [name, g] : c.grads) {
        INFO("gradient of " << name);
        const Diff d = diff_stored(fx, "grad", name, as_double(g));
        worst_grad = std::max(worst_grad, d.err / d.scale);
        CHECK(d.err <= 1e-4 * d.scale);  // tensors whose reference gradient is 0 (no positives at that level) must be 0
        ++checked;
      }
      CHECK(checked == static_cast<int64_t>(initial.values.size()));
    }
    sgd.step();
  }

  // Every parameter and BN buffer after five steps, through the update w5 - w0.
  const auto after = collect(net);
  std::map<std::string, std::vector<double>> w5;
  for (const auto& [name, t] : after.values) w5[name] = as_double(t);
  for (const auto& [name, t] : after.buffers) w5[name] = as_double(t);
  REQUIRE(w5.size() == w0.size());
  double worst_w = 0, worst_dw = 0;
  for (const auto& [name, w] : w5) {
    INFO("tensor " << name);
    std::vector<double> dw(w.size());
    for (size_t i = 0; i < w.size(); ++i) dw[i] = w[i] - w0[name][i];
    const Diff d = diff_stored(fx, f64 ? "update64" : "update", name, dw);
    const double rw = d.err / max_abs(w), rdw = d.scale > 0 ? d.err / d.scale : d.err;
    worst_w = std::max(worst_w, rw), worst_dw = std::max(worst_dw, rdw);
    CHECK(rw < (f64 ? 1e-6 : 1e-4));
    CHECK(rdw < (f64 ? 1e-6 : 1e-2));
  }
  std::printf("detector 5 steps vs PyTorch %s: loss rel %.2e, step-1 grad rel %.2e, weights rel %.2e, update rel %.2e\n",
              f64 ? "float64" : "float32", worst_loss, worst_grad, worst_w, worst_dw);
}

}  // namespace

TEST_CASE("RetinaFace five training steps match PyTorch (float32)", "[train][detector]") { run_steps<float>(); }
TEST_CASE("RetinaFace five training steps match PyTorch (float64)", "[train][detector]") { run_steps<double>(); }

namespace {

// A 4-image synthetic set at 64x64, one face per image, two batches of two per "epoch";
// odd epochs visit the batches in reverse order.
struct ToySet {
  std::vector<Tensor<float, cpu>> batches;
  std::vector<std::vector<std::vector<float>>> targets;
  ToySet() {
    for (int b = 0; b < 2; ++b) {
      std::vector<float> px(2 * 3 * 64 * 64);
      for (size_t i = 0; i < px.size(); ++i)
        px[i] = static_cast<float>(90.0 * std::sin(0.013 * double(i) * (b + 1) + 0.7 * b));
      batches.push_back(Tensor<float, cpu>::from_host(Shape{2, 3, 64, 64}, px));
      std::vector<std::vector<float>> t;
      for (int k = 0; k < 2; ++k) {
        const float x1 = 0.1f + 0.3f * k + 0.1f * b, y1 = 0.2f + 0.2f * b, s = 0.3f + 0.1f * k;
        std::vector<float> row{x1, y1, x1 + s, y1 + 1.2f * s};
        for (int l = 0; l < 5; ++l) row.push_back(x1 + s * (0.2f + 0.15f * l)), row.push_back(y1 + s * (0.4f + 0.1f * l));
        row.push_back(1.0f);
        t.push_back(row);
      }
      targets.push_back(t);
    }
  }
};

struct Trainer {
  Net net;
  std::unique_ptr<nn::FlatParameters<float, cpu>> params_owner;
  std::unique_ptr<train::SGD<float, cpu>> sgd;
  detection::MultiBoxLoss<float, cpu> criterion;
  detection::PriorCache priors{detection::PriorBoxOptions::official()};
  int64_t epoch = 0;
  train::Checkpoint ckpt;

  explicit Trainer(bool pretrained) {
    if (pretrained) nn::load_pytorch(net, kWeights);
    net.train();
    params_owner = std::make_unique<nn::FlatParameters<float, cpu>>(net);
    sgd = std::make_unique<train::SGD<float, cpu>>(*params_owner, train::SGDOptions{1e-3, 0.9, 0.0, 5e-4, false});
    ckpt.model(net).optimizer(*sgd).counter("epoch", epoch);
  }
  void run_epoch(const ToySet& data) {
    for (int i = 0; i < 2; ++i) {
      const int b = epoch % 2 ? 1 - i : i;
      sgd->zero_grad();
      const auto pred = net.forward(data.batches[b]);
      criterion.forward(pred, data.targets[b], priors.get(64, 64));
      net.backward(criterion.backward());
      sgd->step();
    }
    ++epoch;
  }
};

}  // namespace

TEST_CASE("RetinaFace training resumed from a checkpoint equals straight training", "[train][detector][checkpoint]") {
  const ToySet data;
  Trainer straight(true);
  straight.run_epoch(data);
  straight.run_epoch(data);

  const std::string path =
      (std::filesystem::temp_directory_path() / "rfcf_detector_resume_test.safetensors").string();
  {
    Trainer first(true);
    first.run_epoch(data);
    first.ckpt.save(path);
  }
  Trainer resumed(false);  // random init: everything must come from the checkpoint
  resumed.ckpt.load(path);
  std::filesystem::remove(path);
  CHECK(resumed.epoch == 1);
  CHECK(resumed.sgd->steps() == 2);
  resumed.run_epoch(data);

  const Collector a = collect(straight.net), b = collect(resumed.net);
  REQUIRE(a.values.size() == b.values.size());
  for (const auto& [name, t] : a.values) {
    INFO("parameter " << name);
    CHECK(t.to_vector() == b.values.at(name).to_vector());
  }
  for (const auto& [name, t] : a.buffers) {
    INFO("buffer " << name);
    CHECK(t.to_vector() == b.buffers.at(name).to_vector());
  }
  CHECK(straight.sgd->momentum_buffer().to_vector() == resumed.sgd->momentum_buffer().to_vector());
  // The two epochs changed the weights (the comparison is not between untouched models).
  Net untouched;
  nn::load_pytorch(untouched, kWeights);
  const Collector u = collect(untouched);
  CHECK(u.values.at("BboxHead.0.conv1x1.weight").to_vector() != a.values.at("BboxHead.0.conv1x1.weight").to_vector());
}
