// rfcf-train-toy: trains a small CNN on the CPU on a synthetic, learnable task (which way
// the stripes in a noisy 3x16x16 image run: horizontal, vertical or one of the diagonals)
// and shows the loss falling. It exercises the whole training stack: layers, FlatParameters,
// SGD with warm-up + cosine schedule, gradient clipping, progress, CSV log and checkpoints.
//   rfcf-train-toy --steps 300 --csv toy.csv
//   rfcf-train-toy --steps 300 --checkpoint toy.safetensors   (run again to resume)
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "rfcf/rfcf.hpp"

using namespace rfcf;
using T = float;
using D = cpu;

namespace {

constexpr int64_t kClasses = 4, kSize = 16;

// One image of class `label`: stripes of period 4 with a random phase and contrast, the same
// pattern in all channels at random per-channel gains, plus Gaussian noise.
void draw_sample(Generator& g, int64_t label, T* out) {
  const double phase = g.uniform(0, 4), contrast = g.uniform(0.2, 0.8);
  const double pi = 3.14159265358979323846;
  for (int64_t c = 0; c < 3; ++c) {
    const double gain = g.uniform(0.5, 1.5);
    for (int64_t y = 0; y < kSize; ++y)
      for (int64_t x = 0; x < kSize; ++x) {
        const double t = label == 0 ? y : label == 1 ? x : label == 2 ? x + y : x - y;
        const double v = contrast * gain * std::sin(2 * pi * (t + phase) / 4.0) + g.normal(0, 1.0);
        out[(c * kSize + y) * kSize + x] = static_cast<T>(v);
      }
  }
}

void draw_batch(Generator& g, int64_t n, Tensor<T, D>& x, std::vector<int64_t>& labels) {
  x = Tensor<T, D>(Shape{n, 3, kSize, kSize});
  labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[static_cast<size_t>(i)] = g.integer(0, kClasses - 1);
    draw_sample(g, labels[static_cast<size_t>(i)], x.data() + i * 3 * kSize * kSize);
  }
}

auto make_model(Generator& g) {
  const auto k3 = nn::Conv2dOptions::k(3).padded(1);
  return nn::Sequential{nn::Conv2d<T, D>(3, 16, k3.strided(2), g), nn::BatchNorm2d<T, D>(16), nn::ReLU<T, D>(),
                        nn::Conv2d<T, D>(16, 16, k3, g),           nn::BatchNorm2d<T, D>(16), nn::ReLU<T, D>(),
                        nn::GlobalAvgPool2d<T, D>(),               nn::Flatten<T, D>(),       nn::Linear<T, D>(16, kClasses, true, g)};
}

template <class Model>
double accuracy(Model& model, const Tensor<T, D>& x, const std::vector<int64_t>& labels) {
  nn::NoGradGuard no_grad;
  model.eval();
  const auto logits = model.forward(x).to_vector();
  model.train();
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < kClasses; ++c)
      if (logits[i * kClasses + c] > logits[i * kClasses + best]) best = c;
    correct += best == labels[i];
  }
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Trains a small CNN on synthetic stripe images (CPU) and prints the loss falling."};
  int64_t steps = 300, batch = 32, seed = 1, threads = 1;
  double lr = 0.1;
  std::string csv = "", checkpoint = "";
  app.add_option("--steps", steps, "training iterations")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "peak learning rate (SGD, momentum 0.9)")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of weights and data");
  app.add_option("--csv", csv, "append step,loss,lr,grad_norm rows to this CSV file (kept on resume)");
  app.add_option("--checkpoint", checkpoint, "save here at the end; resume from it if it exists");
  app.add_option("--threads", threads, "host threads (0: OpenMP default; this tiny model runs best on 1)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (threads > 0) set_num_threads(static_cast<int>(threads));
    Generator init_rng(static_cast<uint64_t>(seed)), data_rng(static_cast<uint64_t>(seed) + 1000);
    auto model = make_model(init_rng);
    nn::FlatParameters<T, D> params(model);
    train::SGD<T, D> opt(params, {.lr = lr, .momentum = 0.9, .weight_decay = 5e-4});
    const train::WarmupLr schedule(train::share(train::CosineLr(lr, steps, lr * 0.01)), std::min<int64_t>(20, steps), 0.1);
    nn::CrossEntropyLoss<T, D> loss_fn;

    int64_t step = 0;
    train::Checkpoint ckpt;
    ckpt.model(model).optimizer(opt).counter("step", step).generator("data", data_rng);
    if (!checkpoint.empty() && std::filesystem::exists(checkpoint)) {
      ckpt.load(checkpoint);
      std::fprintf(stderr, "resumed from %s at step %lld\n", checkpoint.c_str(), static_cast<long long>(step));
    }

    Generator eval_rng(static_cast<uint64_t>(seed) + 2000);
    Tensor<T, D> eval_x, x;
    std::vector<int64_t> eval_labels, labels;
    draw_batch(eval_rng, 256, eval_x, eval_labels);
    std::fprintf(stderr, "model: %lld parameters; held-out accuracy before training %.1f%%\n",
                 static_cast<long long>(nn::parameter_count(model)), 100 * accuracy(model, eval_x, eval_labels));

    train::ProgressReporter progress({.total_steps = steps, .min_interval_s = 0.5, .prefix = "toy"});
    std::unique_ptr<train::CsvLogger> log;
    if (!csv.empty()) log = std::make_unique<train::CsvLogger>(csv, std::vector<std::string>{"step", "loss", "lr", "grad_norm"});
    for (; step < steps; ++step) {
      draw_batch(data_rng, batch, x, labels);
      opt.zero_grad();
      const T loss = loss_fn.forward(model.forward(x), labels);
      train::check_finite(loss, step);
      model.backward(loss_fn.backward());
      const double norm = train::clip_grad_norm(params, 5.0);
      opt.set_lr(schedule.at(step));
      opt.step();
      progress.update(step, batch, {{"loss", loss}, {"grad_norm", norm}}, opt.lr());
      if (log) log->row({static_cast<double>(step), static_cast<double>(loss), opt.lr(), norm});
    }
    std::fprintf(stderr, "held-out accuracy after %lld steps: %.1f%%\n", static_cast<long long>(steps),
                 100 * accuracy(model, eval_x, eval_labels));
    if (!checkpoint.empty()) {
      ckpt.save(checkpoint);
      std::fprintf(stderr, "saved %s\n", checkpoint.c_str());
    }
  } catch (const rfcf::Error& e) {
    std::fprintf(stderr, "rfcf-train-toy: %s\n", e.what());
    return 1;
  }
  return 0;
}
