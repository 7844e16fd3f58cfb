// RecognitionTrainer (MobileFaceNet + CurricularFace on a tiny synthetic ImageFolder): the loss
// decreases; N steps straight equal N/2 + save + load + N/2 bit for bit (parameters, t, momentum,
// counters; with gradient accumulation and a loader resumed inside the epoch); a NaN loss throws a
// clear NumericError and leaves the last checkpoint intact; the gradient hook runs before the
// optimizer step; batch-norm parameters can be excluded from weight decay; schedules.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/data/recognition_loader.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/recognition/trainer.hpp"

#include <unistd.h>

using namespace rfcf;
using namespace rfcf::recognition;
namespace fs = std::filesystem;

namespace {

using Net = models::MobileFaceNet<float, cpu>;
using Trainer = RecognitionTrainer<Net, CurricularFace>;

// n_ids identities of `per_id` 32x32 images: a per-identity colour gradient plus noise.
struct SyntheticFaces {
  fs::path root;
  SyntheticFaces(int n_ids, int per_id, const std::string& tag) {
    root = fs::temp_directory_path() / ("rfcf_rectrain_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(root);
    Generator g(17);
    for (int k = 0; k < n_ids; ++k) {
      const std::string name = "person" + std::to_string(k);
      fs::create_directories(root / name);
      for (int n = 0; n < per_id; ++n) {
        io::Image img(32, 32, 3);
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 32; ++x)
            for (int c = 0; c < 3; ++c) {
              const double base = 128 + 90 * std::sin(0.25 * ((k + 1) * x + (c + 1) * (k % 3 + 1) * y) + k);
              img.at(x, y)[c] = static_cast<uint8_t>(std::clamp(base + g.normal(0, 12), 0.0, 255.0));
            }
        io::write_png((root / name / (name + "_" + std::to_string(n) + ".png")).string(), img);
      }
    }
  }
  ~SyntheticFaces() { fs::remove_all(root); }
};

data::RecognitionLoaderOptions loader_options(int64_t batch) {
  data::RecognitionLoaderOptions o;
  o.batch_size = batch;
  o.workers = 1;
  o.seed = 5;
  return o;
}

// Layers initialise from the global default generator: reseed it so every call gives the same net.
Net tiny_net(uint64_t seed = 123) {
  default_generator().seed(seed);
  models::MobileFaceNetOptions o;
  o.embedding_size = 32;
  o.input_h = o.input_w = 32;
  return Net(o);
}

RecognitionTrainerOptions trainer_options(int64_t steps_per_epoch, int accumulate = 1) {
  RecognitionTrainerOptions o;
  o.lr = 0.05;
  o.epochs = 4;
  o.steps_per_epoch = steps_per_epoch;
  o.accumulate = accumulate;
  o.schedule = "poly";
  o.warmup_epochs = 0.25;
  return o;
}

std::vector<float> all_state(Trainer& t) {
  std::vector<float> v = t.parameters().values().to_vector();
  const auto m = t.optimizer().momentum_buffer().to_vector();
  v.insert(v.end(), m.begin(), m.end());
  nn::for_each_buffer(t.backbone(), [&](const std::string&, auto& b) {
    const auto x = b.to_vector();
    v.insert(v.end(), x.begin(), x.end());
  });
  v.push_back(static_cast<float>(t.head().t_value()));
  return v;
}

}  // namespace

TEST_CASE("recognition trainer: loss decreases on a tiny synthetic ImageFolder", "[train][rectrain]") {
  SyntheticFaces faces(4, 6, "learn");
  data::RecognitionLoader loader(data::RecognitionDataset::open(faces.root.string()), loader_options(8));
  Generator g(1);
  Trainer tr(tiny_net(), 32, loader.num_classes(), CurricularFace(0.3, 16.0), trainer_options(loader.batches_per_epoch()),
             {}, g);
  std::vector<double> losses;
  double last_acc = 0;
  for (int64_t e = 0; e < 4; ++e) {
    loader.start_epoch(e);
    while (auto b = loader.next()) {
      const TrainStepResult r = tr.step(b->images, b->labels);
      losses.push_back(r.loss);
      last_acc = r.accuracy;
      CHECK(r.lr == tr.lr_at(r.step));
    }
  }
  REQUIRE(losses.size() == 12);
  const double first = losses[0], last = (losses[9] + losses[10] + losses[11]) / 3;
  INFO("first loss " << first << ", mean of the last three " << last << ", last accuracy " << last_acc);
  CHECK(last < 0.7 * first);
  CHECK(tr.steps_done() == 12);
  CHECK(tr.head().t_value() != 0.0);  // CurricularFace t moved
}

TEST_CASE("recognition trainer: N steps straight equal N/2 + checkpoint + resume + N/2 bit for bit", "[train][rectrain]") {
  SyntheticFaces faces(3, 8, "resume");  // 24 images, batch 3: 8 loader batches, accumulate 2: 4 steps
  const std::string ckpt = (faces.root / "half.safetensors").string();
  auto make_loader = [&] { return std::make_unique<data::RecognitionLoader>(data::RecognitionDataset::open(faces.root.string()), loader_options(3)); };
  auto run = [&](Trainer& tr, data::RecognitionLoader& loader, int64_t first_batch, int64_t batches) {
    loader.start_epoch(0, first_batch);
    for (int64_t i = 0; i < batches; ++i) {
      auto b = loader.next();
      REQUIRE(b);
      tr.feed(b->images, b->labels);
      tr.set_position(0, first_batch + i + 1);
    }
  };
  auto straight_loader = make_loader();
  Generator g1(2);
  Trainer straight(tiny_net(), 32, 3, CurricularFace(0.5, 16.0), trainer_options(4, 2), {}, g1);
  run(straight, *straight_loader, 0, 8);
  CHECK(straight.steps_done() == 4);

  auto first_loader = make_loader();
  Generator g2(2);
  Trainer first(tiny_net(), 32, 3, CurricularFace(0.5, 16.0), trainer_options(4, 2), {}, g2);
  run(first, *first_loader, 0, 4);
  first.checkpoint().metadata("note", "half way");
  first.save(ckpt);

  // A differently initialised trainer takes everything from the checkpoint.
  auto second_loader = make_loader();
  Generator g3(99);
  Trainer second(tiny_net(7), 32, 3, CurricularFace(0.5, 16.0), trainer_options(4, 2), {}, g3);
  second.load(ckpt);
  CHECK(second.steps_done() == 2);
  CHECK(second.batch_in_epoch() == 4);
  CHECK(second.checkpoint().metadata().at("note") == "half way");
  CHECK(second.head().t_value() == first.head().t_value());
  run(second, *second_loader, second.batch_in_epoch(), 4);

  CHECK(second.steps_done() == 4);
  CHECK(second.head().t_value() == straight.head().t_value());
  CHECK(second.head().t_value() != 0.0);
  const auto a = all_state(straight), b = all_state(second);
  REQUIRE(a.size() == b.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  CHECK(differing == 0);
}

TEST_CASE("recognition trainer: a NaN loss stops with a clear error and keeps the last checkpoint", "[train][rectrain]") {
  SyntheticFaces faces(2, 4, "nan");
  const std::string ckpt = (faces.root / "last.safetensors").string();
  data::RecognitionLoader loader(data::RecognitionDataset::open(faces.root.string()), loader_options(4));
  Generator g(3);
  Trainer tr(tiny_net(), 32, 2, CurricularFace(0.5, 16.0), trainer_options(2), {}, g);
  loader.start_epoch(0);
  auto b = loader.next();
  REQUIRE(b);
  tr.step(b->images, b->labels);
  tr.save(ckpt);
  const std::vector<uint8_t> before = io::read_file_bytes(ckpt);

  Tensor<float, cpu> bad = b->images.clone();
  bad.data()[5] = std::numeric_limits<float>::quiet_NaN();
  try {
    tr.step(bad, b->labels);
    FAIL("no exception for a NaN loss");
  } catch (const NumericError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("loss is NaN at step 1") != std::string::npos);
    CHECK(msg.find("last checkpoint") != std::string::npos);
  }
  CHECK(tr.diverged());
  CHECK_THROWS_AS(tr.save(ckpt), Error);  // refuses to overwrite the good checkpoint
  CHECK_THROWS_AS(tr.step(b->images, b->labels), Error);
  CHECK(io::read_file_bytes(ckpt) == before);
  // The checkpoint resumes training.
  tr.load(ckpt);
  CHECK(!tr.diverged());
  CHECK(tr.steps_done() == 1);
  CHECK(std::isfinite(tr.step(b->images, b->labels).loss));
}

TEST_CASE("recognition trainer: the gradient hook runs after backward and before the step", "[train][rectrain]") {
  SyntheticFaces faces(2, 4, "hook");
  data::RecognitionLoader loader(data::RecognitionDataset::open(faces.root.string()), loader_options(4));
  RecognitionTrainerOptions o = trainer_options(2);
  o.weight_decay = 0;
  o.momentum = 0;
  Generator g(4);
  Trainer tr(tiny_net(), 32, 2, CurricularFace(0.5, 16.0), o, {}, g);
  int calls = 0;
  double norm_seen = 0;
  tr.set_grad_hook([&](nn::FlatParameters<float, cpu>& p) {
    ++calls;
    norm_seen = train::grad_norm(p);
    train::scale_grads(p, 0.0);  // e.g. an all-reduce would average here
  });
  loader.start_epoch(0);
  auto b = loader.next();
  REQUIRE(b);
  const auto before = tr.parameters().values().to_vector();
  const auto r = tr.step(b->images, b->labels);
  CHECK(calls == 1);
  CHECK(norm_seen > 0);      // gradients were there when the hook ran
  CHECK(r.grad_norm == 0);   // and the step used what the hook left
  CHECK(tr.parameters().values().to_vector() == before);
}

TEST_CASE("recognition trainer: batch-norm parameters without weight decay; schedules", "[train][rectrain]") {
  RecognitionTrainerOptions o = trainer_options(10);
  o.no_decay_on_batchnorm = true;
  Generator g(5);
  Trainer tr(tiny_net(), 32, 3, CurricularFace(), o, {}, g);
  int bn = 0, decayed = 0;
  for (const auto& s : tr.parameters().segments()) {
    const bool is_bn = s.name.find(".bn.") != std::string::npos || s.name.find(".conv.1.") != std::string::npos ||
                       s.name.find(".conv.4.") != std::string::npos || s.name.find(".conv.7.") != std::string::npos;
    if (is_bn) ++bn;
    else ++decayed;
    CHECK(s.weight_decay == !is_bn);
  }
  CHECK(bn > 10);
  CHECK(decayed > 10);
  bool head_decays = false;
  for (const auto& s : tr.parameters().segments())
    if (s.name == "head.weight") head_decays = s.weight_decay;
  CHECK(head_decays);

  // poly: linear warm-up from 0 over 3 steps (0.3 epochs of 10 steps), then linear decay to 0 at step 40.
  o.warmup_epochs = 0.3;
  o.epochs = 4;
  auto poly = make_schedule(o);
  CHECK(poly->at(0) == 0.0);
  CHECK(poly->at(3) == Approx(0.05));
  CHECK(poly->at(40) == 0.0);
  o.schedule = "multistep";
  o.milestones = {2, 3};
  o.warmup_epochs = 0;
  auto ms = make_schedule(o);
  CHECK(ms->at(19) == Approx(0.05));
  CHECK(ms->at(20) == Approx(0.005));
  CHECK(ms->at(30) == Approx(0.0005));
  o.schedule = "cosine";
  CHECK(make_schedule(o)->at(20) == Approx(0.025));
  o.schedule = "nope";
  CHECK_THROWS_AS(make_schedule(o), ConfigError);
}
