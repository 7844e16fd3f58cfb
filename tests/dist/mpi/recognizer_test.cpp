// Data-parallel recognizer training (MobileFaceNet at 32x32 + MarginHead, SGD with momentum and
// weight decay) on W MPI ranks against one process.
//
// BatchNorm statistics stay per rank (as in PyTorch DDP), so W ranks equal one process on the
// same global batch only where BN does not depend on the batch split. Hence two honest tests:
//  1. BN in eval mode (frozen statistics) + CurricularFace with t averaged over ranks: W ranks
//     == one process with the global batch (relative error < 1e-5), then rank 0's checkpoint
//     resumed by a single process == the W ranks continuing;
//  2. BN in training mode: W ranks == a single-process emulation that splits every global batch
//     the same way (per-shard forward/backward, gradients averaged), i.e. exactly DDP semantics.
//     In double: with 2 samples per rank the last BatchNorms normalise 2 values per channel,
//     which amplifies float32 rounding (summation order) to ~5e-5 within two steps.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/models.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/train.hpp"

using namespace rfcf;
using rfcf::testing::minus;
using rfcf::testing::rel_error;
using rfcf::testing::world;

namespace {

constexpr int64_t kClasses = 6, kEmbedding = 16, kSamples = 32, kGlobalBatch = 8;

template <class Policy, class T>
struct Recognizer {
  models::MobileFaceNet<T, cpu> net;
  recognition::MarginHead<Policy, T, cpu> head;

  static std::unique_ptr<Recognizer> make(uint64_t seed) {
    default_generator().seed(seed);  // the backbone's layers draw from it
    Generator g(seed);
    models::MobileFaceNetOptions o;
    o.embedding_size = kEmbedding;
    o.input_h = o.input_w = 32;
    return std::unique_ptr<Recognizer>(
        new Recognizer{models::MobileFaceNet<T, cpu>(o),
                       recognition::MarginHead<Policy, T, cpu>(kEmbedding, kClasses, Policy{}, {}, g)});
  }
  template <class V>
  void visit(V& v, const std::string& p) {
    net.visit(v, nn::join_name(p, "backbone"));
    head.visit(v, nn::join_name(p, "head"));
  }
};

// Sample i of the synthetic data set: a fixed random image and label i mod classes.
template <class T>
std::pair<Tensor<T, cpu>, std::vector<int64_t>> batch(const std::vector<int64_t>& indices) {
  const int64_t n = static_cast<int64_t>(indices.size()), size = 3 * 32 * 32;
  Tensor<T, cpu> x(Shape{n, 3, 32, 32});
  std::vector<int64_t> y;
  for (int64_t k = 0; k < n; ++k) {
    Generator g(1000 + static_cast<uint64_t>(indices[static_cast<size_t>(k)]));
    for (int64_t j = 0; j < size; ++j) x.data()[k * size + j] = static_cast<T>(static_cast<float>(g.uniform(-1, 1)));
    y.push_back(indices[static_cast<size_t>(k)] % kClasses);
  }
  return {x, y};
}

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t begin, int64_t count) {
  return std::vector<int64_t>(v.begin() + begin, v.begin() + begin + count);
}

template <class Policy, class T = float>
struct Trainer {
  std::unique_ptr<Recognizer<Policy, T>> model;
  nn::FlatParameters<T, cpu> params;
  train::SGD<T, cpu> sgd;
  Trainer(uint64_t seed, bool bn_train)
      : model(Recognizer<Policy, T>::make(seed)), params(*model),
        sgd(params, train::SGDOptions{0.1, 0.9, 0.0, 5e-4, false}) {
    model->net.train(bn_train);
  }
  // Forward + backward of one (micro-)batch; returns the loss.
  T accumulate(const std::vector<int64_t>& indices, T dloss = T(1)) {
    auto [x, y] = batch<T>(indices);
    const auto out = model->head.forward(model->net.forward(x), y);
    model->net.backward(model->head.backward(dloss));
    return out.loss;
  }
};

dist::ShardOptions shard_options() {
  dist::ShardOptions o;
  o.seed = 5;
  return o;
}

}  // namespace

TEST_CASE("mpi: recognizer, W ranks == one process on the global batch (BN frozen, t averaged), resume on 1 rank") {
  using Policy = recognition::CurricularFace;
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t b = kGlobalBatch / W, steps = 3;
  const std::vector<int64_t> order = dist::epoch_order(kSamples, 0, shard_options());
  const std::vector<int64_t> mine = dist::shard_indices(kSamples, r, W, 0, shard_options());

  Trainer<Policy> ref(1, false);
  const std::vector<float> w0 = ref.params.values().to_vector();
  std::vector<float> ref_loss;
  for (int64_t k = 0; k < steps; ++k) {
    ref.sgd.zero_grad();
    ref_loss.push_back(ref.accumulate(slice(order, k * kGlobalBatch, kGlobalBatch)));
    ref.sgd.step();
  }

  Trainer<Policy> ddp_run(r == 0 ? 1 : 50 + r, false);  // other ranks start elsewhere: broadcast fixes it
  ddp_run.model->head.set_t_mode(recognition::TMode::global);
  ddp_run.model->head.set_t_reducer(dist::t_reducer<cpu>(c));
  dist::DataParallelOptions o;
  o.bucket_bytes = 256 << 10;  // several buckets
  dist::DataParallel<float, cpu> ddp(c, ddp_run.params, o);
  ddp.broadcast_model(*ddp_run.model);
  CHECK(ddp_run.params.values().to_vector() == w0);
  for (int64_t k = 0; k < steps; ++k) {
    ddp_run.sgd.zero_grad();
    std::vector<double> loss{ddp_run.accumulate(slice(mine, k * b, b)) / double(W)};
    ddp.sync_gradients();
    ddp_run.sgd.step();
    dist::all_reduce_values<cpu>(c, loss);
    CHECK(std::abs(loss[0] - ref_loss[static_cast<size_t>(k)]) / ref_loss[static_cast<size_t>(k)] < 1e-5);
  }
  const std::vector<float> w_ref = ref.params.values().to_vector(), w_ddp = ddp_run.params.values().to_vector();
  const double err = rel_error(w_ddp, w_ref), delta_err = rel_error(minus(w_ddp, w0), minus(w_ref, w0));
  INFO("W = " << W << ": weights rel. error " << err << ", updates rel. error " << delta_err);
  CHECK(err < 1e-5);
  CHECK(delta_err < 1e-3);
  CHECK(rel_error(minus(w_ref, w0), w0) > 1e-3);  // the steps moved the weights (the test can fail)
  CHECK(std::abs(ddp_run.model->head.t_value() - ref.model->head.t_value()) < 1e-7);

  // Rank 0 writes a checkpoint; one process (a world of one) resumes it: its next step on the
  // global batch equals the W ranks' next step.
  const std::string path =
      (std::filesystem::temp_directory_path() / ("rfcf_dist_resume_" + std::to_string(W) + ".safetensors")).string();
  int64_t step = steps;
  train::Checkpoint ckpt;
  ckpt.model(*ddp_run.model).optimizer(ddp_run.sgd).counter("step", step);
  dist::save_on_root<cpu>(c, ckpt, path);
  Trainer<Policy> resumed(77, false);
  int64_t resumed_step = 0;
  train::Checkpoint in;
  in.model(*resumed.model).optimizer(resumed.sgd).counter("step", resumed_step);
  in.load(path);
  c.barrier();
  if (r == 0) std::filesystem::remove(path);
  CHECK(resumed_step == steps);
  resumed.sgd.zero_grad();
  resumed.accumulate(slice(order, steps * kGlobalBatch, kGlobalBatch));
  resumed.sgd.step();
  ddp_run.sgd.zero_grad();
  ddp_run.accumulate(slice(mine, steps * b, b));
  ddp.sync_gradients();
  ddp_run.sgd.step();
  CHECK(rel_error(resumed.params.values().to_vector(), ddp_run.params.values().to_vector()) < 1e-5);
}

TEST_CASE("mpi: recognizer with BN in training mode == one process emulating the per-rank batches") {
  using Policy = recognition::ArcFace;
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t b = kGlobalBatch / W, steps = 2;
  std::vector<std::vector<int64_t>> shards;
  for (int q = 0; q < W; ++q) shards.push_back(dist::shard_indices(kSamples, q, W, 0, shard_options()));

  Trainer<Policy, double> emu(2, true);
  const std::vector<double> w0 = emu.params.values().to_vector();
  for (int64_t k = 0; k < steps; ++k) {
    emu.sgd.zero_grad();
    for (int q = 0; q < W; ++q) emu.accumulate(slice(shards[static_cast<size_t>(q)], k * b, b), 1.0 / W);
    emu.sgd.step();
  }
  Trainer<Policy, double> ddp_run(2, true);
  dist::DataParallel<double, cpu> ddp(c, ddp_run.params);
  ddp.broadcast_model(*ddp_run.model);
  for (int64_t k = 0; k < steps; ++k) {
    ddp_run.sgd.zero_grad();
    ddp_run.accumulate(slice(shards[static_cast<size_t>(r)], k * b, b));
    ddp.sync_gradients();
    ddp_run.sgd.step();
  }
  const std::vector<double> w_emu = emu.params.values().to_vector(), w_ddp = ddp_run.params.values().to_vector();
  INFO("W = " << W << ": weights rel. error " << rel_error(w_ddp, w_emu));
  CHECK(rel_error(w_ddp, w_emu) < 1e-5);
  CHECK(rel_error(minus(w_ddp, w0), minus(w_emu, w0)) < 1e-3);
}
