// train::DetectorTrainer under mpirun through dist::data_parallel (what rfcf-train-detector runs):
// with the global loss normaliser, W ranks == one process on the same global batch (BatchNorm
// frozen, so the split matters only through the normaliser); with the default per-rank
// normaliser they differ (W > 1), as the reference trainer under DDP does.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/dist/detector_trainer.hpp"
#include "rfcf/models.hpp"

using namespace rfcf;
using rfcf::testing::minus;
using rfcf::testing::rel_error;
using rfcf::testing::world;

namespace {

constexpr int kImages = 8, kSide = 96;
constexpr int64_t kGlobalBatch = 4;

// Image "synthetic/<i>": noise with one or two faces of 26-50 px (every third without landmarks).
std::vector<data::AnnotatedImage> images() {
  std::vector<data::AnnotatedImage> v;
  for (int i = 0; i < kImages; ++i) {
    Generator g(700 + static_cast<uint64_t>(i));
    data::AnnotatedImage a;
    a.path = a.relative = "synthetic/" + std::to_string(i);
    for (int f = 0; f < 1 + i % 2; ++f) {
      const double w = g.uniform(26, 50), h = g.uniform(26, 50), x = g.uniform(0, kSide - w), y = g.uniform(0, kSide - h);
      data::FaceAnnotation face{};
      face.values[0] = float(x), face.values[1] = float(y), face.values[2] = float(x + w), face.values[3] = float(y + h);
      for (int p = 0; p < 5; ++p) {
        face.values[4 + 2 * p] = float(x + g.uniform(0.2, 0.8) * w);
        face.values[5 + 2 * p] = float(y + g.uniform(0.2, 0.8) * h);
      }
      face.values[14] = (i + f) % 3 == 0 ? -1.0f : 1.0f;
      a.faces.push_back(face);
    }
    v.push_back(a);
  }
  return v;
}

io::Image decode(const std::string& path) {
  Generator g(900 + std::stoull(path.substr(path.rfind('/') + 1)));
  io::Image img(kSide, kSide, 3, io::ColorOrder::BGR);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(g.uniform(0, 255.99));
  return img;
}

// Trains 2 steps (one epoch of 8 images) with BN frozen; returns the flat weights.
std::vector<float> train_two_steps(dist::Communicator* comm, bool global_normalizer) {
  static std::ostringstream quiet;
  const int W = comm ? comm->size() : 1, r = comm ? comm->rank() : 0;
  train::DetectorTrainOptions o;
  o.loader.workers = 1;
  o.loader.batch_size = kGlobalBatch / W;
  o.loader.seed = 4;
  o.loader.shard_rank = r;
  o.loader.shard_count = W;
  o.loader.augment.img_dim = 64;
  o.epochs = 1;
  o.lr = 0.01;
  o.main_process = false;  // no files
  o.out = &quiet;
  train::DetectorTrainer<models::MobileNetV1025> t(images(), o, decode);
  t.network().eval();  // frozen BN statistics: the split changes nothing but the normaliser
  if (comm) dist::data_parallel(t, *comm, {.global_normalizer = global_normalizer});
  t.fit();
  return t.parameters().values().to_vector();
}

}  // namespace

TEST_CASE("mpi: DetectorTrainer, W ranks with the global normaliser == one process on the global batch") {
  dist::Communicator& c = world();
  const int W = c.size();
  const std::vector<float> one = train_two_steps(nullptr, false);
  const std::vector<float> global = train_two_steps(&c, true);
  const std::vector<float> per_rank = train_two_steps(&c, false);
  train::DetectorTrainOptions defaults;
  default_generator().seed(4);  // as the trainer does with the loader seed
  models::RetinaFace<models::MobileNetV1025, cpu> initial(defaults.model);
  const std::vector<float> w0 = nn::FlatParameters<float, cpu>(initial).values().to_vector();
  const double global_err = rel_error(minus(global, w0), minus(one, w0));
  const double per_rank_err = rel_error(minus(per_rank, w0), minus(one, w0));
  INFO("W = " << W << ": updates rel. error, global normaliser " << global_err << ", per-rank normaliser "
              << per_rank_err);
  CHECK(rel_error(global, one) < 1e-5);
  CHECK(global_err < 1e-4);
  CHECK(rel_error(one, w0) > 1e-4);  // the steps moved the weights
  if (W > 1) CHECK(per_rank_err > 1e-3);  // the per-rank normaliser is a different gradient
}
