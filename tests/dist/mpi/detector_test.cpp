// Data-parallel detector training (RetinaFace MobileNet-0.25 at 64x64, MultiBoxLoss, SGD) on W
// MPI ranks against one process on the same global batch. BN in eval mode (its statistics stay
// per rank under DDP, see recognizer_test.cpp); the loss normaliser is the global number of
// matched priors (dist::globally_normalize), so the split does not change the gradient.
#include <catch2/catch.hpp>

#include "dist/mpi/world.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/models.hpp"
#include "rfcf/train.hpp"

using namespace rfcf;
using rfcf::testing::minus;
using rfcf::testing::rel_error;
using rfcf::testing::world;

namespace {

using Net = models::RetinaFace<models::MobileNetV1025, cpu>;
constexpr int64_t kSize = 64, kSamples = 8, kGlobalBatch = 4;

struct Sample {
  std::vector<float> image;    // [3, 64, 64]
  std::vector<float> targets;  // rows of kFaceFields, normalised
};

// Image i: noise with one or two face boxes of 16-29 px (landmarks inside; every third without).
Sample sample(int64_t i) {
  Generator g(500 + static_cast<uint64_t>(i));
  Sample s;
  s.image.resize(3 * kSize * kSize);
  for (float& v : s.image) v = static_cast<float>(g.uniform(-1, 1));
  const int faces = 1 + static_cast<int>(i % 2);
  for (int f = 0; f < faces; ++f) {
    const double w = g.uniform(0.25, 0.45), h = g.uniform(0.25, 0.45);
    const double x = g.uniform(0, 1 - w), y = g.uniform(0, 1 - h);
    s.targets.insert(s.targets.end(), {float(x), float(y), float(x + w), float(y + h)});
    for (int p = 0; p < 5; ++p) s.targets.insert(s.targets.end(), {float(x + g.uniform(0.2, 0.8) * w),
                                                                    float(y + g.uniform(0.2, 0.8) * h)});
    s.targets.push_back((i + f) % 3 == 0 ? -1.0f : 1.0f);
  }
  return s;
}

struct Trainer {
  Net net;
  nn::FlatParameters<float, cpu> params;
  train::SGD<float, cpu> sgd;
  detection::MultiBoxLoss<float, cpu> criterion;
  Tensor<float, cpu> priors;

  explicit Trainer(uint64_t seed)
      : net((default_generator().seed(seed), Net())), params(net),
        sgd(params, train::SGDOptions{0.01, 0.9, 0.0, 5e-4, false}) {
    net.eval();  // frozen BN statistics
    detection::PriorCache cache(detection::PriorBoxOptions::official());
    priors = cache.get(kSize, kSize);
  }
  // One step; with a communicator the loss is normalised over the global batch and gradients averaged.
  detection::MultiBoxLossParts<float> step(const std::vector<int64_t>& indices, dist::Communicator* comm = nullptr,
                                           dist::DataParallel<float, cpu>* ddp = nullptr) {
    const int64_t n = static_cast<int64_t>(indices.size());
    Tensor<float, cpu> x(Shape{n, 3, kSize, kSize});
    std::vector<std::vector<float>> targets;
    for (int64_t k = 0; k < n; ++k) {
      Sample s = sample(indices[static_cast<size_t>(k)]);
      std::copy(s.image.begin(), s.image.end(), x.data() + k * 3 * kSize * kSize);
      targets.push_back(std::move(s.targets));
    }
    sgd.zero_grad();
    auto parts = criterion.forward(net.forward(x), targets, priors);
    auto grads = criterion.backward();
    if (comm) parts = dist::globally_normalize(*comm, parts, grads, criterion.options().loc_weight);
    net.backward(grads);
    if (ddp) ddp->sync_gradients();
    sgd.step();
    return parts;
  }
};

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t begin, int64_t count) {
  return std::vector<int64_t>(v.begin() + begin, v.begin() + begin + count);
}

}  // namespace

TEST_CASE("mpi: detector, W ranks == one process on the global batch (BN frozen, global normaliser)") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t b = kGlobalBatch / W, steps = 2;
  dist::ShardOptions so;
  so.seed = 9;
  const std::vector<int64_t> order = dist::epoch_order(kSamples, 0, so);
  const std::vector<int64_t> mine = dist::shard_indices(kSamples, r, W, 0, so);

  Trainer ref(3);
  const std::vector<float> w0 = ref.params.values().to_vector();
  std::vector<detection::MultiBoxLossParts<float>> ref_parts;
  for (int64_t k = 0; k < steps; ++k) ref_parts.push_back(ref.step(slice(order, k * kGlobalBatch, kGlobalBatch)));

  Trainer run(r == 0 ? 3 : 30 + r);
  dist::DataParallel<float, cpu> ddp(c, run.params);
  ddp.broadcast_model(run.net);
  for (int64_t k = 0; k < steps; ++k) {
    const auto parts = run.step(slice(mine, k * b, b), &c, &ddp);
    const auto& want = ref_parts[static_cast<size_t>(k)];
    CHECK(parts.num_pos == want.num_pos);
    CHECK(parts.num_neg == want.num_neg);
    CHECK(std::abs(parts.total - want.total) / want.total < 1e-5);
  }
  const std::vector<float> w_ref = ref.params.values().to_vector(), w_ddp = run.params.values().to_vector();
  const double err = rel_error(w_ddp, w_ref), delta_err = rel_error(minus(w_ddp, w0), minus(w_ref, w0));
  INFO("W = " << W << ": weights rel. error " << err << ", updates rel. error " << delta_err);
  CHECK(err < 1e-5);
  CHECK(delta_err < 1e-3);
  CHECK(rel_error(minus(w_ref, w0), w0) > 1e-4);  // the steps moved the weights
}
