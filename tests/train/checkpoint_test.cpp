// Checkpoints: save/load of model + optimizer + counters + RNG in one safetensors file, and
// bit-identical continuation (2 steps + save + load + 2 steps == 4 steps).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "rfcf/core.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/train/adamw.hpp"
#include "rfcf/train/checkpoint.hpp"
#include "rfcf/train/lr_schedule.hpp"
#include "rfcf/train/sgd.hpp"

using namespace rfcf;

namespace {

// y[n, f] = w[f] * x[n, f] + b[f], with a running mean of y (a buffer) and a batch counter,
// like BatchNorm's running statistics.
struct TinyModel {
  using value_type = double;
  using device_type = cpu;
  static constexpr int64_t F = 5;
  nn::Parameter<double, cpu> w{Shape{F}}, b{Shape{F}};
  Tensor<double, cpu> running_mean = zeros<double, cpu>(Shape{F});
  int64_t tracked = 0;
  Tensor<double, cpu> x_;

  explicit TinyModel(uint64_t seed) {
    Generator g(seed);
    init::uniform(w.value, g, -1, 1);
    init::uniform(b.value, g, -1, 1);
    b.weight_decay = false;
  }
  Tensor<double, cpu> forward(const Tensor<double, cpu>& x) {
    x_ = x;
    Tensor<double, cpu> y(x.shape());
    const int64_t n = x.dim(0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t f = 0; f < F; ++f) y.data()[i * F + f] = w.value.data()[f] * x.data()[i * F + f] + b.value.data()[f];
    for (int64_t f = 0; f < F; ++f) {
      double m = 0;
      for (int64_t i = 0; i < n; ++i) m += y.data()[i * F + f] / static_cast<double>(n);
      running_mean.data()[f] = 0.9 * running_mean.data()[f] + 0.1 * m;
    }
    ++tracked;
    return y;
  }
  void backward(const Tensor<double, cpu>& dy) {
    for (int64_t i = 0; i < dy.dim(0); ++i)
      for (int64_t f = 0; f < F; ++f) {
        w.grad.data()[f] += dy.data()[i * F + f] * x_.data()[i * F + f];
        b.grad.data()[f] += dy.data()[i * F + f];
      }
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(nn::join_name(prefix, "lin.weight"), w);
    v.parameter(nn::join_name(prefix, "lin.bias"), b);
    v.buffer(nn::join_name(prefix, "stats.running_mean"), running_mean);
    v.counter(nn::join_name(prefix, "stats.num_batches_tracked"), tracked);
  }
};

// Everything a training run owns; `seed` only changes the initial state.
template <class Opt, class Options>
struct Run {
  TinyModel model;
  nn::FlatParameters<double, cpu> flat;
  Opt opt;
  Generator data_rng;
  int64_t step = 0, epoch = 0;
  train::CosineLr schedule{0.1, 8, 0.01};

  Run(uint64_t seed, Options o) : model(seed), flat(model), opt(flat, o), data_rng(seed + 100) {}

  void train_step() {
    Tensor<double, cpu> x(Shape{3, TinyModel::F});
    init::normal(x, data_rng, 0, 1);  // the data depends on the generator state
    opt.zero_grad();
    Tensor<double, cpu> y = model.forward(x);
    Tensor<double, cpu> dy(y.shape());
    for (int64_t i = 0; i < y.numel(); ++i) dy.data()[i] = 2.0 * (y.data()[i] - (2.0 * x.data()[i] - 1.0)) / 15.0;
    model.backward(dy);
    opt.set_lr(schedule.at(step));
    opt.step();
    ++step;
    epoch = step / 3;
  }
  train::Checkpoint checkpoint() {
    train::Checkpoint c;
    c.model(model).optimizer(opt).counter("step", step).counter("epoch", epoch).generator("data", data_rng);
    return c;
  }
};

std::string temp_file(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "rfcf_train_tests";
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir / name);
  return (dir / name).string();
}

template <class Opt, class Options>
void check_resume(Options o) {
  Run<Opt, Options> full(1, o);
  for (int i = 0; i < 4; ++i) full.train_step();

  const std::string path = temp_file("resume.safetensors");
  {
    Run<Opt, Options> first(1, o);
    first.train_step();
    first.train_step();
    first.checkpoint().metadata("config", "tiny").save(path);
  }
  Run<Opt, Options> resumed(7, o);  // different weights and data stream until loaded
  auto ckpt = resumed.checkpoint();
  ckpt.load(path);
  CHECK(ckpt.metadata().at("config") == "tiny");
  CHECK(resumed.step == 2);
  resumed.train_step();
  resumed.train_step();

  CHECK(resumed.model.w.value.to_vector() == full.model.w.value.to_vector());  // bit-identical
  CHECK(resumed.model.b.value.to_vector() == full.model.b.value.to_vector());
  CHECK(resumed.model.running_mean.to_vector() == full.model.running_mean.to_vector());
  CHECK(resumed.model.tracked == 4);
  CHECK(resumed.opt.steps() == 4);
  CHECK(resumed.epoch == full.epoch);
  CHECK(resumed.data_rng.next_u64() == full.data_rng.next_u64());
}

}  // namespace

TEST_CASE("resume from a checkpoint continues bit-identically (SGD)", "[train][checkpoint]") {
  check_resume<train::SGD<double, cpu>>(train::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
}

TEST_CASE("resume from a checkpoint continues bit-identically (AdamW)", "[train][checkpoint]") {
  check_resume<train::AdamW<double, cpu>>(train::AdamWOptions{.lr = 0.05, .weight_decay = 0.1});
}

TEST_CASE("checkpoint keys follow the model's names", "[train][checkpoint]") {
  using R = Run<train::SGD<double, cpu>, train::SGDOptions>;
  R run(1, {.lr = 0.1, .momentum = 0.9});
  run.train_step();
  const std::string path = temp_file("keys.safetensors");
  run.checkpoint().save(path);
  io::Metadata meta;
  io::TensorMap map = io::read_safetensors(path, &meta);
  CHECK(map.names().size() == 9);
  CHECK(map.at("lin.weight").dtype == io::DType::F64);
  CHECK(map.at("lin.weight").as<double>() == run.model.w.value.to_vector());
  CHECK(map.at("stats.num_batches_tracked").item<int64_t>() == 1);
  CHECK(map.at("optimizer.step").item<int64_t>() == 1);
  CHECK(map.contains("optimizer.lin.weight.momentum_buffer"));
  CHECK(map.at("train.step").item<int64_t>() == 1);
  CHECK(meta.count("rng.data") == 1);
}

TEST_CASE("loading a mismatching checkpoint fails without modifying anything", "[train][checkpoint]") {
  using R = Run<train::SGD<double, cpu>, train::SGDOptions>;
  R run(1, {.lr = 0.1, .momentum = 0.9});
  run.train_step();
  const std::string path = temp_file("mismatch.safetensors");
  run.checkpoint().save(path);

  R other(3, {.lr = 0.1, .momentum = 0.9});
  const auto before = other.model.w.value.to_vector();
  {
    train::Checkpoint c;  // expects a counter the file does not have
    c.model(other.model).optimizer(other.opt).counter("step", other.step).counter("epoch", other.epoch)
        .counter("best", other.step).generator("data", other.data_rng);
    CHECK_THROWS_WITH(c.load(path), Catch::Contains("missing tensor 'train.best'"));
  }
  {
    train::Checkpoint c;  // leaves the optimizer state unused
    c.model(other.model).counter("step", other.step).counter("epoch", other.epoch).generator("data", other.data_rng);
    CHECK_THROWS_WITH(c.load(path), Catch::Contains("unexpected tensor 'optimizer."));
  }
  {
    train::Checkpoint c;  // model under another prefix
    c.model(other.model, "net").optimizer(other.opt).counter("step", other.step).counter("epoch", other.epoch);
    CHECK_THROWS_AS(c.load(path), FormatError);
  }
  CHECK(other.model.w.value.to_vector() == before);
  CHECK(other.step == 0);
  CHECK_THROWS_AS(other.checkpoint().load(temp_file("does_not_exist.safetensors")), IoError);
  CHECK_THROWS_AS(other.checkpoint().save("/nonexistent-dir/x.safetensors"), IoError);
}
